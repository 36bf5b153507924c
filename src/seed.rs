//! `tozalash seed`: a demo catalogue of cleaning services (Uzbek and English
//! names, prices in tiyin) and a demo customer. Running it again adds nothing.

use tozalash_domain::{
    NewService, RepoError, Repositories, Role, Service, Signup, SystemClock, UniqueKey,
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
    ("Gʻisht devorlarni yuvish — Brick wall washing", "Fasad va hovli devorlari, bosimli suv bilan. Facades and yard walls, pressure-washed.", 45_000_000),
    // In Cyrillic, as many customers write: `shkaf` finds it, and `гилам` finds "Gilam yuvish".
    ("Шкаф ва жавонларни тозалаш — Wardrobe cleaning", "Ичи ва сирти, токчалари билан. Inside and out, shelves included.", 15_000_000),
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
        let new = NewService::parse(name, Some(description), *price)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // The unique name key says whether it is there already (archived or not).
        match repos
            .services
            .insert(&Service::create(new, tozalash_domain::Clock::now(&clock)))
            .await
        {
            Ok(()) => seeded.services += 1,
            Err(RepoError::Duplicate(UniqueKey::ServiceName)) => {}
            Err(err) => return Err(err.into()),
        }
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

/// The size of `tozalash seed --profile bench`: the shape the load harness
/// and the NestJS peer's seed use (docs/benchmarks.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BenchSize {
    /// Verified customers, the bench user included.
    pub users: u32,
    pub services: u32,
    pub orders: u32,
    /// Of the orders, how many the bench user owns.
    pub bench_orders: u32,
}

impl Default for BenchSize {
    fn default() -> Self {
        Self { users: 1_000, services: 50, orders: 100_000, bench_orders: 200 }
    }
}

pub const BENCH_EMAIL: &str = "bench@example.com";
pub const BENCH_PASSWORD: &str = "BenchPassw0rd!";
/// The other customers' password (`user0001@example.com` …).
pub const BENCH_USERS_PASSWORD: &str = "Password123!";

/// Rows handed to the storage per bulk call: bounds the seed's memory at a
/// million orders.
const BULK: usize = 50_000;

/// `tozalash seed --profile bench`: an empty catalogue and user base filled
/// in bulk with the harness's data. The bench user and the others get real
/// argon2id hashes (one each for the two passwords); the orders are spread
/// over the last year and over the three statuses, deterministically.
/// Refused on a database that has services or orders already.
pub async fn seed_bench(
    repos: &Repositories,
    hasher: &dyn tozalash_domain::PasswordHasher,
    size: BenchSize,
) -> anyhow::Result<()> {
    use tozalash_domain::{
        Address, Email, Id, Order, OrderQuery, OrderStatus, Password, ServiceQuery, User, Username,
        Version,
    };
    let parse = |e: tozalash_domain::FieldError| anyhow::anyhow!("{}", e.message);
    anyhow::ensure!(size.users >= 2 && size.services >= 1, "bench: at least 2 users and 1 service");
    anyhow::ensure!(size.bench_orders <= size.orders, "bench: more bench orders than orders");
    let empty = repos.services.list(&ServiceQuery::default()).await?.total == 0
        && repos.orders.list(&OrderQuery::default()).await?.total == 0;
    anyhow::ensure!(
        empty,
        "the bench profile fills an empty database; this one has services or orders"
    );

    let now = tozalash_domain::Clock::now(&SystemClock);
    let minutes = |n: u32| chrono::Duration::minutes(i64::from(n));
    let hash = |password: &'static str| async move {
        let password = Password::parse_attempt("password", password).map_err(parse)?;
        hasher.hash(&password).await.map_err(|e| anyhow::anyhow!("hashing: {e}"))
    };
    let (bench_hash, users_hash) = (hash(BENCH_PASSWORD).await?, hash(BENCH_USERS_PASSWORD).await?);

    let customer = |username: String, email: &str, password_hash| -> anyhow::Result<User> {
        Ok(User {
            id: Id::generate(),
            username: Username::parse("username", &username).map_err(parse)?,
            email: Email::parse("email", email).map_err(parse)?,
            pending_email: None,
            password_hash,
            role: Role::User,
            is_verified: true,
            locale: None,
            created_at: now,
            updated_at: now,
            version: Version::FIRST,
        })
    };
    let mut users = vec![customer("bench".into(), BENCH_EMAIL, bench_hash)?];
    for n in 1..size.users {
        users.push(customer(
            format!("user{n:04}"),
            &format!("user{n:04}@example.com"),
            users_hash.clone(),
        )?);
    }
    repos.bulk.users(&users).await?;

    let mut services = Vec::new();
    for n in 1..=size.services {
        let new = NewService::parse(
            &format!("Service {n:02}"),
            Some(&format!("Demo cleaning service number {n}")),
            100_000 + i64::from(n) * 5_000,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        services.push(Service::create(new, now - minutes(n)));
    }
    repos.bulk.services(&services).await?;

    let statuses = [OrderStatus::Pending, OrderStatus::Completed, OrderStatus::Cancelled];
    let address = Address::parse("Toshkent").map_err(parse)?;
    let mut orders = Vec::with_capacity(BULK);
    for n in 1..=size.orders {
        // The bench user's first, then the others' (a prime stride spreads them).
        let owner = match n <= size.bench_orders {
            true => &users[0],
            false => &users[1 + (n as usize * 7_919) % (users.len() - 1)],
        };
        let service = &services[n as usize % services.len()];
        let created = now - minutes(n % 525_600);
        orders.push(Order {
            id: Id::generate(),
            user_id: owner.id,
            customer_name: Some(owner.username.clone()),
            service_id: service.id,
            service_name: service.name.clone(),
            price: service.price,
            status: statuses[n as usize % 3],
            scheduled_at: None,
            address: address.clone(),
            notes: None,
            created_at: created,
            updated_at: created,
            version: Version::FIRST,
        });
        if orders.len() == BULK {
            repos.bulk.orders(&orders).await?;
            orders.clear();
        }
    }
    repos.bulk.orders(&orders).await?;
    Ok(())
}
