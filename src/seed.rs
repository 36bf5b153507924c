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
