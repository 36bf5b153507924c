//! Conformance tests of [`ServiceRepo`] and [`StorageHealth`].

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use tozalash_domain::{
    Id, NewService, PageRequest, RepoError, Repositories, SearchText, Service, ServicePatch,
    ServiceQuery, ServiceSort, UniqueKey,
};

use tozalash_domain::clock::at;

const T0: i64 = 1_764_201_600_123; // 2025-11-27T00:00:00.123Z

pub(crate) fn service(name: &str, price: i64, created: i64) -> Service {
    Service::create(NewService::parse(name, Some("A description"), price).unwrap(), at(created))
}

async fn insert_all(repos: &Repositories, services: &[Service]) {
    for s in services {
        repos.services.insert(s).await.unwrap();
    }
}

fn query(page: u32, limit: u32, sort: &str, search: Option<&str>) -> ServiceQuery {
    ServiceQuery {
        page: PageRequest::new(Some(page), Some(limit)).unwrap(),
        search: search.and_then(|q| SearchText::parse("q", q).unwrap()),
        sort: sort.parse::<ServiceSort>().unwrap(),
        archived: false,
    }
}

fn archived(q: ServiceQuery) -> ServiceQuery {
    ServiceQuery { archived: true, ..q }
}

fn rename(name: &str) -> ServicePatch {
    ServicePatch::parse(Some(name), None, None).unwrap()
}

async fn names(repos: &Repositories, q: &ServiceQuery) -> Vec<String> {
    let page = repos.services.list(q).await.unwrap();
    page.items.iter().map(|s| s.name.as_str().to_owned()).collect()
}

pub async fn insert_then_get_returns_exactly_what_was_stored(repos: &Repositories) {
    let stored = Service::create(
        NewService::parse("Gilam yuvish — Ўзбек 🧽", Some("Two lines\nof text"), 1_000_000_000_000)
            .unwrap(),
        at(T0),
    );
    repos.services.insert(&stored).await.unwrap();

    let read = repos.services.get(stored.id).await.unwrap();

    assert_eq!(read, Some(stored));
}

pub async fn get_of_an_unknown_id_is_none(repos: &Repositories) {
    insert_all(repos, &[service("Windows", 100, T0)]).await;

    assert_eq!(repos.services.get(Id::generate()).await.unwrap(), None);
}

pub async fn insert_of_a_taken_id_is_a_duplicate(repos: &Repositories) {
    let first = service("Windows", 100, T0);
    insert_all(repos, std::slice::from_ref(&first)).await;
    let mut second = service("Carpets", 200, T0);
    second.id = first.id;

    let err = repos.services.insert(&second).await.unwrap_err();

    assert!(matches!(err, RepoError::Duplicate(UniqueKey::Id)), "{err:?}");
    assert_eq!(repos.services.get(first.id).await.unwrap(), Some(first));
}

pub async fn update_changes_only_the_patched_fields_and_advances_updated_at(repos: &Repositories) {
    let original = service("Windows", 100, T0);
    insert_all(repos, std::slice::from_ref(&original)).await;
    let patch = ServicePatch::parse(Some("Windows, both sides"), None, Some(250)).unwrap();

    let updated =
        repos.services.update(original.id, &patch, None, at(T0 + 5_000)).await.unwrap().unwrap();

    assert_eq!(updated.name.as_str(), "Windows, both sides");
    assert_eq!(updated.price.minor_units(), 250);
    assert_eq!(updated.description, original.description);
    assert_eq!(updated.created_at, original.created_at);
    assert_eq!(updated.updated_at, at(T0 + 5_000));
    assert_eq!(repos.services.get(original.id).await.unwrap(), Some(updated.clone()));
    // The folded name used for search and order moved with the name.
    assert_eq!(names(repos, &query(1, 10, "name", Some("BOTH"))).await, ["Windows, both sides"]);

    let patch = ServicePatch::parse(None, Some(""), None).unwrap();
    let cleared =
        repos.services.update(original.id, &patch, None, at(T0 + 6_000)).await.unwrap().unwrap();
    assert_eq!(cleared.description.as_str(), "");
    assert_eq!(cleared.name, updated.name);
}

pub async fn update_of_an_unknown_id_is_none_and_creates_nothing(repos: &Repositories) {
    let patch = ServicePatch::parse(Some("Ghost"), None, None).unwrap();

    let result = repos.services.update(Id::generate(), &patch, None, at(T0)).await.unwrap();

    assert_eq!(result, None);
    assert_eq!(repos.services.list(&query(1, 10, "name", None)).await.unwrap().total, 0);
}

pub async fn archive_hides_the_service_from_the_list_and_says_whether_it_did(repos: &Repositories) {
    let kept = service("Kept", 100, T0);
    let gone = service("Gone", 100, T0);
    insert_all(repos, &[kept.clone(), gone.clone()]).await;

    assert!(repos.services.archive(gone.id, at(T0 + 9)).await.unwrap());
    assert!(!repos.services.archive(gone.id, at(T0 + 10)).await.unwrap(), "archived already");
    assert!(!repos.services.archive(Id::generate(), at(T0)).await.unwrap());

    // Still stored, archived at the first write's time, one version on.
    let stored = repos.services.get(gone.id).await.unwrap().unwrap();
    assert_eq!(stored.archived_at, Some(at(T0 + 9)));
    assert_eq!(stored.updated_at, at(T0 + 9));
    assert_eq!(stored.version.get(), 2);
    assert_eq!(repos.services.get(kept.id).await.unwrap(), Some(kept));
    assert_eq!(names(repos, &query(1, 10, "name", None)).await, ["Kept"]);
    let page = repos.services.list(&archived(query(1, 10, "name", None))).await.unwrap();
    assert_eq!((page.total, page.items), (1, vec![stored]));
}

pub async fn archived_services_are_listed_apart_and_restore_brings_them_back(repos: &Repositories) {
    let all: Vec<Service> = (0..6).map(|i| service(&format!("Gilam {i}"), i, T0 + i)).collect();
    insert_all(repos, &all).await;
    for s in &all[..4] {
        repos.services.archive(s.id, at(T0 + 100)).await.unwrap();
    }

    let live = repos.services.list(&query(1, 10, "name", Some("gilam"))).await.unwrap();
    assert_eq!(live.total, 2);
    let first = repos.services.list(&archived(query(1, 3, "-price", Some("GILAM")))).await;
    let first = first.unwrap();
    assert_eq!(first.total, 4, "search, order and totals work on the archive too");
    let first: Vec<_> = first.items.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(first, ["Gilam 3", "Gilam 2", "Gilam 1"]);
    let past_end = repos.services.list(&archived(query(3, 3, "name", None))).await.unwrap();
    assert_eq!((past_end.total, past_end.items.len()), (4, 0));

    let restore = ServicePatch { archived: Some(false), ..ServicePatch::default() };
    let restored =
        repos.services.update(all[0].id, &restore, None, at(T0 + 200)).await.unwrap().unwrap();
    assert_eq!(restored.archived_at, None);
    assert_eq!(restored.updated_at, at(T0 + 200));
    assert_eq!(repos.services.list(&query(1, 10, "name", None)).await.unwrap().total, 3);
    assert_eq!(repos.services.list(&archived(query(1, 10, "name", None))).await.unwrap().total, 3);

    let archive = ServicePatch { archived: Some(true), ..ServicePatch::default() };
    let again =
        repos.services.update(all[0].id, &archive, None, at(T0 + 300)).await.unwrap().unwrap();
    assert_eq!(again.archived_at, Some(at(T0 + 300)));
}

pub async fn a_name_taken_ignoring_case_and_space_is_a_duplicate_even_when_archived(
    repos: &Repositories,
) {
    let first = service("Umumiy tozalash", 100, T0);
    insert_all(repos, std::slice::from_ref(&first)).await;

    for taken in ["UMUMIY TOZALASH", "  umumiy   Tozalash ", "Umumiy\u{00A0}tozalash"] {
        let err = repos.services.insert(&service(taken, 1, T0)).await.unwrap_err();
        assert!(matches!(err, RepoError::Duplicate(UniqueKey::ServiceName)), "{taken:?}: {err:?}");
    }
    let other = service("Deraza yuvish", 200, T0);
    insert_all(repos, std::slice::from_ref(&other)).await;

    // A rename onto a taken name changes nothing; onto its own name in
    // another case it is fine.
    let taken = rename("umumiy TOZALASH");
    let err = repos.services.update(other.id, &taken, None, at(T0 + 1)).await.unwrap_err();
    assert!(matches!(err, RepoError::Duplicate(UniqueKey::ServiceName)), "{err:?}");
    assert_eq!(repos.services.get(other.id).await.unwrap(), Some(other.clone()));
    let own = rename("UMUMIY tozalash");
    let own = repos.services.update(first.id, &own, None, at(T0 + 1)).await.unwrap().unwrap();
    assert_eq!(own.name.as_str(), "UMUMIY tozalash");

    // An archived service keeps its name: nothing else may take it.
    repos.services.archive(first.id, at(T0 + 2)).await.unwrap();
    let err = repos.services.insert(&service("Umumiy tozalash", 1, T0)).await.unwrap_err();
    assert!(matches!(err, RepoError::Duplicate(UniqueKey::ServiceName)), "{err:?}");
    // A freed name is free: the key moved with the rename.
    repos.services.update(other.id, &rename("Deraza va oyna"), None, at(T0 + 3)).await.unwrap();
    repos.services.insert(&service("DERAZA YUVISH", 1, T0)).await.unwrap();
}

pub async fn twenty_concurrent_creates_of_one_name_store_exactly_one(repos: &Repositories) {
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let services = std::sync::Arc::clone(&repos.services);
            let name = if i % 2 == 0 { "Gilam yuvish" } else { " GILAM YUVISH " };
            let racer = service(name, i, T0);
            tokio::spawn(async move { services.insert(&racer).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(()) => won += 1,
            Err(RepoError::Duplicate(UniqueKey::ServiceName)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(repos.services.list(&query(1, 100, "name", None)).await.unwrap().total, 1);
}

pub async fn search_matches_across_alphabets_and_apostrophes(repos: &Repositories) {
    insert_all(
        repos,
        &[
            service("Taʼmirdan keyingi tozalash", 1, T0),
            service("Gʻisht devorlarni yuvish", 2, T0 + 1),
            service("Gilam yuvish", 3, T0 + 2),
            service("Шкаф ичини тозалаш", 4, T0 + 3),
            service("Deraza yuvish", 5, T0 + 4),
        ],
    )
    .await;

    let finds = [
        ("ta'mir", vec!["Taʼmirdan keyingi tozalash"]),
        ("ta’mir", vec!["Taʼmirdan keyingi tozalash"]),
        ("ta‘mir", vec!["Taʼmirdan keyingi tozalash"]),
        ("TAʼMIR", vec!["Taʼmirdan keyingi tozalash"]),
        ("g'isht", vec!["Gʻisht devorlarni yuvish"]),
        ("ғишт", vec!["Gʻisht devorlarni yuvish"]),
        ("гилам", vec!["Gilam yuvish"]),
        ("shkaf", vec!["Шкаф ичини тозалаш"]),
        ("ichini", vec!["Шкаф ичини тозалаш"]),
        ("тозалаш", vec!["Taʼmirdan keyingi tozalash", "Шкаф ичини тозалаш"]),
        ("ювиш", vec!["Deraza yuvish", "Gilam yuvish", "Gʻisht devorlarni yuvish"]),
    ];
    for (q, expected) in finds {
        assert_eq!(names(repos, &query(1, 10, "name", Some(q))).await, expected, "q={q}");
    }
    // A rename moves the search key with it.
    let gilam = repos.services.list(&query(1, 1, "name", Some("gilam"))).await.unwrap().items;
    repos.services.update(gilam[0].id, &rename("Палас ювиш"), None, at(T0 + 9)).await.unwrap();
    assert_eq!(names(repos, &query(1, 10, "name", Some("гилам"))).await, Vec::<String>::new());
    assert_eq!(names(repos, &query(1, 10, "name", Some("palas"))).await, ["Палас ювиш"]);
}

pub async fn list_pages_carry_the_total_of_all_matches(repos: &Repositories) {
    let all: Vec<Service> =
        (0..25).map(|i| service(&format!("Service {i:02}"), i, T0 + i)).collect();
    insert_all(repos, &all).await;

    let mut seen = Vec::new();
    for (page, expected_len) in [(1, 10), (2, 10), (3, 5), (4, 0)] {
        let result = repos.services.list(&query(page, 10, "name", None)).await.unwrap();
        assert_eq!(result.total, 25, "page {page}");
        assert_eq!(result.items.len(), expected_len, "page {page}");
        seen.extend(result.items.into_iter().map(|s| s.name.as_str().to_owned()));
    }
    let expected: Vec<String> = (0..25).map(|i| format!("Service {i:02}")).collect();
    assert_eq!(seen, expected);
}

/// Totals stop counting one past the cap (so a list of a million rows costs no
/// million-row count); the domain shows that as "10,000 and more".
pub async fn list_totals_stop_counting_one_past_the_cap(repos: &Repositories) {
    use futures::StreamExt as _;
    let cap = tozalash_domain::Page::<()>::COUNT_CAP;
    let all: Vec<Service> = (0..=cap + 5).map(|i| service(&format!("S{i:05}"), 1, T0)).collect();
    futures::stream::iter(&all)
        .for_each_concurrent(16, |s| async move { repos.services.insert(s).await.unwrap() })
        .await;

    let first = repos.services.list(&query(1, 10, "name", None)).await.unwrap();
    assert_eq!(first.total, cap + 1, "counted up to one past the cap");
    assert!(first.total_capped());
    let last = repos.services.list(&query(100, 100, "name", None)).await.unwrap();
    assert_eq!((last.items.len(), last.total), (100, cap + 1));
    // Under the cap, the exact number.
    let some = repos.services.list(&query(1, 10, "name", Some("S0000"))).await.unwrap();
    assert_eq!((some.total, some.total_capped()), (10, false));
}

pub async fn list_search_is_case_insensitive_and_literal(repos: &Repositories) {
    insert_all(
        repos,
        &[
            service("Deep clean", 1, T0),
            service("DEEP fridge", 2, T0 + 1),
            service("Windows", 3, T0 + 2),
            service("ЎЗБЕК gilam", 4, T0 + 3),
            service("100% spotless", 5, T0 + 4),
            service("after_party", 6, T0 + 5),
        ],
    )
    .await;

    let deep = repos.services.list(&query(1, 1, "name", Some("dEeP"))).await.unwrap();
    assert_eq!(deep.total, 2, "the total counts matches, not the page");
    assert_eq!(
        names(repos, &query(1, 10, "name", Some("deep"))).await,
        ["Deep clean", "DEEP fridge"]
    );
    assert_eq!(names(repos, &query(1, 10, "name", Some("ўзбек"))).await, ["ЎЗБЕК gilam"]);
    // Wildcards in the term are literal characters, not patterns.
    assert_eq!(names(repos, &query(1, 10, "name", Some("%"))).await, ["100% spotless"]);
    assert_eq!(names(repos, &query(1, 10, "name", Some("_"))).await, ["after_party"]);
    assert_eq!(names(repos, &query(1, 10, "name", Some(".*"))).await, Vec::<String>::new());
    assert_eq!(repos.services.list(&query(1, 10, "name", Some("nothing"))).await.unwrap().total, 0);
}

pub async fn list_sorts_by_folded_name_both_ways(repos: &Repositories) {
    insert_all(
        repos,
        &[
            service("banana", 1, T0),
            service("Apple", 2, T0 + 1),
            service("cherry", 3, T0 + 2),
            service("BLUEBERRY", 4, T0 + 3),
        ],
    )
    .await;

    assert_eq!(
        names(repos, &query(1, 10, "name", None)).await,
        ["Apple", "banana", "BLUEBERRY", "cherry"]
    );
    assert_eq!(
        names(repos, &query(1, 10, "-name", None)).await,
        ["cherry", "BLUEBERRY", "banana", "Apple"]
    );
}

pub async fn list_sorts_by_price_both_ways_with_ties_broken_by_id(repos: &Repositories) {
    let a = service("a", 300, T0);
    let b = service("b", 100, T0);
    let c = service("c", 200, T0);
    let d = service("d", 200, T0); // generated after c, so its id is greater
    insert_all(repos, &[a, b, c, d]).await;

    assert_eq!(names(repos, &query(1, 10, "price", None)).await, ["b", "c", "d", "a"]);
    assert_eq!(names(repos, &query(1, 10, "-price", None)).await, ["a", "d", "c", "b"]);
}

pub async fn list_sorts_by_created_at_both_ways(repos: &Repositories) {
    insert_all(
        repos,
        &[
            service("middle", 1, T0 + 1_000),
            service("newest", 1, T0 + 2_000),
            service("oldest", 1, T0),
        ],
    )
    .await;

    assert_eq!(
        names(repos, &query(1, 10, "createdAt", None)).await,
        ["oldest", "middle", "newest"]
    );
    assert_eq!(
        names(repos, &query(1, 10, "-createdAt", None)).await,
        ["newest", "middle", "oldest"]
    );
}

pub async fn pages_never_overlap_or_skip_when_sort_values_tie(repos: &Repositories) {
    let all: Vec<Service> = (0..15).map(|i| service(&format!("same {i}"), 500, T0)).collect();
    insert_all(repos, &all).await;

    for sort in ["price", "-price", "createdAt", "-createdAt"] {
        let mut ids = Vec::new();
        for page in 1..=4 {
            let result = repos.services.list(&query(page, 4, sort, None)).await.unwrap();
            ids.extend(result.items.iter().map(|s| s.id));
        }
        let mut expected: Vec<Id> = all.iter().map(|s| s.id).collect();
        expected.sort();
        if sort.starts_with('-') {
            expected.reverse();
        }
        assert_eq!(ids, expected, "sort {sort}");
    }
}

pub async fn health_ping_answers(repos: &Repositories) {
    repos.health.ping().await.unwrap();
}
