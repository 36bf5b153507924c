//! `tozalash seed`: a demo catalogue of cleaning services (Uzbek and English
//! names, prices in tiyin) and a demo customer. Running it again adds nothing.

use tozalash_domain::{
    Id, NewService, PageRequest, Repositories, Role, SearchText, Service, ServiceQuery, Signup,
    SystemClock,
};

use tozalash_app::users::Bootstrap;

use crate::startup::Services;

/// Name and price (in tiyin, 1/100 of a so'm) of each demo service.
pub const DEMO_CATALOGUE: &[(&str, &str, i64)] = &[
    ("Umumiy tozalash — General cleaning", "Xonalar, oshxona va hammomni muntazam tozalash. Regular cleaning of rooms, kitchen and bathroom.", 35_000_000),
    ("Chuqur tozalash — Deep cleaning", "Mebel ostidan tortib shkaf ichigacha. From under the furniture to inside the cupboards.", 80_000_000),
    ("Taʼmirdan keyingi tozalash — After-renovation cleaning", "Chang, boʻyoq va qurilish qoldiqlarini olib tashlash. Dust, paint and building debris removed.", 150_000_000),
    ("Deraza yuvish — Window washing", "Ichki va tashqi tomondan, romlar bilan. Inside and out, frames included.", 20_000_000),
    ("Gilam yuvish — Carpet washing", "Kvadrat metr narxi, olib ketish va qaytarish bilan. Price per square metre, pick-up and delivery included.", 4_000_000),
    ("Yumshoq mebelni kimyoviy tozalash — Upholstery dry cleaning", "Divan, kreslo va matraslar. Sofas, armchairs and mattresses.", 25_000_000),
    ("Ofis tozalash — Office cleaning", "Ish kunidan keyin, 100 m² gacha. After hours, up to 100 m².", 60_000_000),
    ("Oshxona va hammom dezinfeksiyasi — Kitchen and bathroom disinfection", "Xavfsiz vositalar bilan. With safe products.", 30_000_000),
];

pub const DEMO_CUSTOMER_EMAIL: &str = "mijoz@example.uz";
pub const DEMO_CUSTOMER_USERNAME: &str = "demo_mijoz";
pub const DEMO_CUSTOMER_PASSWORD: &str = "Demo-mijoz-2026";

/// What a seed run added.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Seeded {
    pub services: usize,
    pub customer: bool,
}

/// Adds whatever of the demo data is missing.
pub async fn seed(repos: &Repositories, services: &Services) -> anyhow::Result<Seeded> {
    let mut seeded = Seeded::default();
    let clock = SystemClock;
    for (name, description, price) in DEMO_CATALOGUE {
        if find_service(repos, name).await?.is_some() {
            continue;
        }
        let new = NewService::parse(name, Some(description), *price)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        repos.services.insert(&Service::create(new, tozalash_domain::Clock::now(&clock))).await?;
        seeded.services += 1;
    }
    let email = tozalash_domain::Email::parse("email", DEMO_CUSTOMER_EMAIL)
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    if repos.users.find_by_email(&email).await?.is_none() {
        let signup =
            Signup::parse(DEMO_CUSTOMER_USERNAME, DEMO_CUSTOMER_EMAIL, DEMO_CUSTOMER_PASSWORD)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        // Verified at once, so the demo customer can order; no mail is sent.
        services
            .users
            .ensure_account(signup, Role::User, Bootstrap::default())
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        seeded.customer = true;
    }
    Ok(seeded)
}

async fn find_service(repos: &Repositories, name: &str) -> anyhow::Result<Option<Id>> {
    let query = ServiceQuery {
        page: PageRequest::new(Some(1), Some(PageRequest::MAX_LIMIT))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        search: SearchText::parse("q", name).map_err(|e| anyhow::anyhow!("{}", e.message))?,
        ..ServiceQuery::default()
    };
    let page = repos.services.list(&query).await?;
    Ok(page.items.iter().find(|s| s.name.as_str() == name).map(|s| s.id))
}
