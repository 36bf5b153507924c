//! The business's booking rules: when a visit may be booked (far enough ahead,
//! not too far, inside working hours in the business's time zone), when it may
//! be marked done, and until when a customer may cancel it.

use std::fmt;

use chrono::{TimeDelta, Timelike};
use chrono_tz::Tz;

use crate::clock::Timestamp;
use crate::error::FieldError;
use crate::orders::Order;

/// The field every booking rule speaks about.
const FIELD: &str = "scheduledAt";

/// Daily working hours in local time, `[opens, closes)`, as minutes after
/// midnight. `closes` may be 24:00; hours that close before they open run
/// across midnight (`22:00-06:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingHours {
    opens: u32,
    closes: u32,
}

impl WorkingHours {
    const DAY: u32 = 24 * 60;

    /// `HH:MM-HH:MM`, e.g. `08:00-20:00`; `24:00` closes at midnight.
    pub fn parse(text: &str) -> Result<Self, BookingConfigError> {
        let bad = || BookingConfigError::Hours(text.to_owned());
        let (opens, closes) = text.trim().split_once('-').ok_or_else(bad)?;
        let minute = |hhmm: &str| -> Option<u32> {
            let (h, m) = hhmm.trim().split_once(':')?;
            if h.len() != 2 || m.len() != 2 {
                return None;
            }
            let (h, m) = (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?);
            let at = h * 60 + m;
            (m < 60 && at <= Self::DAY).then_some(at)
        };
        let (opens, closes) = (minute(opens).ok_or_else(bad)?, minute(closes).ok_or_else(bad)?);
        if opens == closes || opens == Self::DAY {
            return Err(bad());
        }
        Ok(Self { opens, closes })
    }

    /// Whether a visit starting at this local second of the day is inside.
    fn contains(self, second_of_day: u32) -> bool {
        let (opens, closes) = (self.opens * 60, self.closes * 60);
        if opens < closes {
            (opens..closes).contains(&second_of_day)
        } else {
            second_of_day >= opens || second_of_day < closes
        }
    }
}

impl fmt::Display for WorkingHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hhmm = |m: u32| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hhmm(self.opens), hhmm(self.closes))
    }
}

/// A configuration of the booking rules that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BookingConfigError {
    #[error("{0:?} is not a time zone of the IANA database (e.g. Asia/Tashkent)")]
    Zone(String),
    #[error("{0:?} is not working hours as HH:MM-HH:MM (e.g. 08:00-20:00)")]
    Hours(String),
    #[error("the longest booking ahead must exceed the shortest lead")]
    Window,
}

/// Why a status move that the status machine allows is refused at this time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VisitRefusal {
    /// Completing a visit whose time has not come yet.
    #[error("the visit is not due yet")]
    NotDue,
    /// A customer cancelling inside the cut-off before the visit (or after it).
    #[error("it is too late to cancel this visit")]
    TooLateToCancel,
}

/// The booking rules in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookingRules {
    zone: Tz,
    hours: WorkingHours,
    min_lead: TimeDelta,
    max_ahead: TimeDelta,
    cancel_cutoff: TimeDelta,
}

impl Default for BookingRules {
    /// Tashkent, 08:00-20:00, at least 2 hours and at most 90 days ahead;
    /// customers cancel up to 2 hours before the visit.
    fn default() -> Self {
        Self {
            zone: chrono_tz::Asia::Tashkent,
            hours: WorkingHours { opens: 8 * 60, closes: 20 * 60 },
            min_lead: TimeDelta::hours(2),
            max_ahead: TimeDelta::days(90),
            cancel_cutoff: TimeDelta::hours(2),
        }
    }
}

impl BookingRules {
    /// The rules from their settings; durations in seconds.
    pub fn new(
        zone: &str,
        hours: &str,
        min_lead_secs: u32,
        max_ahead_secs: u32,
        cancel_cutoff_secs: u32,
    ) -> Result<Self, BookingConfigError> {
        let zone = zone.trim().parse::<Tz>().map_err(|_| BookingConfigError::Zone(zone.into()))?;
        if max_ahead_secs <= min_lead_secs {
            return Err(BookingConfigError::Window);
        }
        Ok(Self {
            zone,
            hours: WorkingHours::parse(hours)?,
            min_lead: TimeDelta::seconds(min_lead_secs.into()),
            max_ahead: TimeDelta::seconds(max_ahead_secs.into()),
            cancel_cutoff: TimeDelta::seconds(cancel_cutoff_secs.into()),
        })
    }

    /// A visit time someone books (places or reschedules) at `now`: in the
    /// future, at least the minimum lead and at most the longest booking
    /// ahead from now, starting inside working hours in local time.
    pub fn check_visit(&self, at: Timestamp, now: Timestamp) -> Result<Timestamp, FieldError> {
        if at <= now {
            return Err(FieldError::new(FIELD, "in_the_past", "must be in the future"));
        }
        if at - now < self.min_lead {
            let lead = describe(self.min_lead);
            return Err(FieldError::new(
                FIELD,
                "too_soon",
                format!("must be at least {lead} ahead"),
            ));
        }
        if at - now > self.max_ahead {
            let ahead = describe(self.max_ahead);
            return Err(FieldError::new(
                FIELD,
                "too_far",
                format!("must be at most {ahead} ahead"),
            ));
        }
        let local = at.with_timezone(&self.zone);
        if !self.hours.contains(local.num_seconds_from_midnight()) {
            return Err(FieldError::new(
                FIELD,
                "outside_working_hours",
                format!("must start within working hours, {} {} time", self.hours, self.zone),
            ));
        }
        Ok(at)
    }

    /// Whether the order may be marked COMPLETED at `now`: not before its visit.
    pub fn may_complete(&self, order: &Order, now: Timestamp) -> Result<(), VisitRefusal> {
        match order.scheduled_at {
            Some(at) if at > now => Err(VisitRefusal::NotDue),
            _ => Ok(()),
        }
    }

    /// Whether the customer may cancel the order at `now`: not later than the
    /// cut-off before its visit. (An administrator may cancel any time.)
    pub fn customer_may_cancel(&self, order: &Order, now: Timestamp) -> Result<(), VisitRefusal> {
        match order.scheduled_at {
            Some(at) if at - now < self.cancel_cutoff => Err(VisitRefusal::TooLateToCancel),
            _ => Ok(()),
        }
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    pub fn hours(&self) -> WorkingHours {
        self.hours
    }

    pub fn min_lead(&self) -> TimeDelta {
        self.min_lead
    }

    pub fn max_ahead(&self) -> TimeDelta {
        self.max_ahead
    }
}

/// A duration as a person reads it: `2 hours`, `90 days`, `45 minutes`.
fn describe(d: TimeDelta) -> String {
    let secs = d.num_seconds();
    let (n, unit) = match secs {
        s if s % 86_400 == 0 && s > 0 => (s / 86_400, "day"),
        s if s % 3_600 == 0 && s > 0 => (s / 3_600, "hour"),
        s if s % 60 == 0 && s > 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::at;
    use chrono::{NaiveDate, TimeZone, Utc};

    /// An instant given in Tashkent time (UTC+5, no daylight saving).
    fn tashkent(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> Timestamp {
        let local = NaiveDate::from_ymd_opt(y, mo, d).unwrap().and_hms_opt(h, mi, 0).unwrap();
        chrono_tz::Asia::Tashkent.from_local_datetime(&local).unwrap().with_timezone(&Utc)
    }

    fn code(result: Result<Timestamp, FieldError>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(e) => {
                assert_eq!(e.field, FIELD);
                e.code
            }
        }
    }

    #[test]
    fn the_minimum_lead_is_inclusive() {
        let rules = BookingRules::default();
        let visit = tashkent(2026, 12, 1, 12, 0);
        let now = visit - TimeDelta::seconds(7_200);
        assert_eq!(code(rules.check_visit(visit, now)), "ok", "exactly 2 hours ahead");
        let now = now + TimeDelta::milliseconds(1);
        assert_eq!(code(rules.check_visit(visit, now)), "too_soon");
        assert_eq!(code(rules.check_visit(visit, visit)), "in_the_past");
        assert_eq!(code(rules.check_visit(visit, visit + TimeDelta::seconds(1))), "in_the_past");
    }

    #[test]
    fn the_longest_booking_ahead_is_inclusive() {
        let rules = BookingRules::default();
        let visit = tashkent(2027, 3, 1, 10, 0);
        let now = visit - TimeDelta::days(90);
        assert_eq!(code(rules.check_visit(visit, now)), "ok");
        let now = now - TimeDelta::milliseconds(1);
        assert_eq!(code(rules.check_visit(visit, now)), "too_far");
    }

    #[test]
    fn working_hours_are_tashkent_time_from_their_first_to_their_last_minute() {
        let rules = BookingRules::default();
        let now = tashkent(2026, 11, 30, 0, 0);
        let day = |h, m| rules.check_visit(tashkent(2026, 12, 2, h, m), now);
        assert_eq!(code(day(8, 0)), "ok", "first minute");
        assert_eq!(code(day(19, 59)), "ok", "last minute");
        assert_eq!(code(day(7, 59)), "outside_working_hours");
        assert_eq!(code(day(20, 0)), "outside_working_hours", "closed from 20:00");
        assert_eq!(code(day(3, 0)), "outside_working_hours");
        // 08:00 in Tashkent is 03:00 UTC: a UTC reading would refuse it.
        assert_eq!(tashkent(2026, 12, 2, 8, 0).hour(), 3);
    }

    /// The code `rules` answer for a visit at the UTC time `(y, m, d, h, min)`, seen at `now`.
    fn at_utc(
        rules: &BookingRules,
        now: Timestamp,
        (y, m, d, h, min): (i32, u32, u32, u32, u32),
    ) -> &'static str {
        code(rules.check_visit(Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap(), now))
    }

    #[test]
    fn hours_are_read_in_local_time_across_midnight_utc() {
        let rules = BookingRules::default();
        let now = tashkent(2026, 11, 30, 0, 0);
        for (visit, expected, why) in [
            ((2026, 12, 1, 19, 30), "outside_working_hours", "00:30 on Dec 2 in Tashkent"),
            ((2026, 12, 1, 23, 30), "outside_working_hours", "04:30 on Dec 2"),
            ((2026, 12, 2, 3, 30), "ok", "08:30 on Dec 2"),
            ((2026, 12, 1, 14, 59), "ok", "19:59, the last open minute, on the UTC date before"),
        ] {
            assert_eq!(at_utc(&rules, now, visit), expected, "{why}");
        }
    }

    #[test]
    fn a_non_default_configuration_applies_its_own_zone_hours_and_window() {
        let rules = BookingRules::new("Europe/Berlin", "22:00-06:00", 600, 86_400, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 7, 1, 12, 0, 0).unwrap();
        // Berlin is UTC+2 in July.
        for (visit, expected, why) in [
            ((2026, 7, 1, 21, 0), "ok", "23:00 local, inside the night shift"),
            ((2026, 7, 1, 13, 0), "outside_working_hours", "15:00 local"),
            ((2026, 7, 2, 1, 59), "ok", "03:59 local"),
            ((2026, 7, 2, 4, 0), "outside_working_hours", "06:00 local, closed"),
        ] {
            assert_eq!(at_utc(&rules, now, visit), expected, "{why}");
        }
        // 10 minutes' lead and one day ahead at most.
        let night = Utc.with_ymd_and_hms(2026, 7, 1, 21, 0, 0).unwrap();
        assert_eq!(code(rules.check_visit(night, night - TimeDelta::seconds(599))), "too_soon");
        assert_eq!(code(rules.check_visit(night, night - TimeDelta::days(2))), "too_far");
    }

    #[test]
    fn bad_settings_are_refused() {
        assert_eq!(
            BookingRules::new("Asia/Nowhere", "08:00-20:00", 1, 2, 0),
            Err(BookingConfigError::Zone("Asia/Nowhere".into()))
        );
        for hours in ["8-20", "08:00", "08:00-08:00", "25:00-26:00", "08:60-20:00", "24:00-08:00"] {
            assert!(
                matches!(
                    BookingRules::new("UTC", hours, 1, 2, 0),
                    Err(BookingConfigError::Hours(_))
                ),
                "{hours}"
            );
        }
        assert_eq!(
            BookingRules::new("UTC", "08:00-20:00", 5, 5, 0),
            Err(BookingConfigError::Window)
        );
        let all_day = BookingRules::new("UTC", "00:00-24:00", 1, 100, 0).unwrap();
        assert_eq!(all_day.hours().to_string(), "00:00-24:00");
        let now = at(0);
        assert_eq!(code(all_day.check_visit(at(99_000), now)), "ok");
    }

    fn order_at(scheduled_at: Option<Timestamp>) -> Order {
        Order {
            id: crate::Id::generate(),
            user_id: crate::Id::generate(),
            customer_name: None,
            service_id: crate::Id::generate(),
            service_name: crate::ServiceName::parse("Windows").unwrap(),
            price: crate::Money::parse("price", 1).unwrap(),
            status: crate::OrderStatus::Pending,
            scheduled_at,
            address: None,
            notes: None,
            created_at: at(0),
            updated_at: at(0),
            version: crate::Version::FIRST,
        }
    }

    #[test]
    fn a_visit_is_completed_from_its_time_on() {
        let rules = BookingRules::default();
        let visit = at(10_000_000);
        let order = order_at(Some(visit));
        assert_eq!(
            rules.may_complete(&order, visit - TimeDelta::seconds(1)),
            Err(VisitRefusal::NotDue)
        );
        assert_eq!(rules.may_complete(&order, visit), Ok(()));
        assert_eq!(rules.may_complete(&order_at(None), at(0)), Ok(()));
    }

    #[test]
    fn a_customer_cancels_up_to_the_cut_off_before_the_visit() {
        let rules = BookingRules::default();
        let visit = at(100_000_000);
        let order = order_at(Some(visit));
        let cutoff = visit - TimeDelta::seconds(7_200);
        assert_eq!(rules.customer_may_cancel(&order, cutoff), Ok(()));
        let late = cutoff + TimeDelta::milliseconds(1);
        assert_eq!(rules.customer_may_cancel(&order, late), Err(VisitRefusal::TooLateToCancel));
        let after = visit + TimeDelta::hours(1);
        assert_eq!(rules.customer_may_cancel(&order, after), Err(VisitRefusal::TooLateToCancel));
        assert_eq!(rules.customer_may_cancel(&order_at(None), after), Ok(()));
    }
}
