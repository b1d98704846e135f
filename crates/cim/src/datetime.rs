//! CIM datetime values (DSP0004 §5.2.4): a point in time
//! `yyyymmddhhmmss.mmmmmmsutc` or an interval `ddddddddhhmmss.mmmmmm:000`.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A CIM datetime. Fields are kept as written so that values with
/// asterisk-free precision round-trip exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CimDateTime {
    /// A point in time with its UTC offset in minutes.
    Timestamp {
        year: u16,
        month: u8,
        day: u8,
        hour: u8,
        minute: u8,
        second: u8,
        microsecond: u32,
        utc_offset_minutes: i16,
    },
    /// A duration.
    Interval {
        days: u32,
        hours: u8,
        minutes: u8,
        seconds: u8,
        microseconds: u32,
    },
}

/// A string that is not a 25-character CIM datetime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIM datetime `{value}`: {reason}")]
pub struct InvalidDateTime {
    pub value: String,
    pub reason: &'static str,
}

impl CimDateTime {
    /// An interval of the given length.
    pub fn interval(d: Duration) -> Self {
        let secs = d.as_secs();
        CimDateTime::Interval {
            days: (secs / 86_400).min(99_999_999) as u32,
            hours: ((secs / 3600) % 24) as u8,
            minutes: ((secs / 60) % 60) as u8,
            seconds: (secs % 60) as u8,
            microseconds: d.subsec_micros(),
        }
    }

    /// The length of an interval; `None` for a timestamp.
    pub fn as_duration(&self) -> Option<Duration> {
        match *self {
            CimDateTime::Interval {
                days,
                hours,
                minutes,
                seconds,
                microseconds,
            } => Some(
                Duration::from_secs(
                    days as u64 * 86_400
                        + hours as u64 * 3600
                        + minutes as u64 * 60
                        + seconds as u64,
                ) + Duration::from_micros(microseconds as u64),
            ),
            CimDateTime::Timestamp { .. } => None,
        }
    }

    /// A UTC timestamp for a system time.
    pub fn from_system_time(t: SystemTime) -> Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = d.as_secs() as i64;
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let rem = secs.rem_euclid(86_400);
        CimDateTime::Timestamp {
            year: year as u16,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: ((rem / 60) % 60) as u8,
            second: (rem % 60) as u8,
            microsecond: d.subsec_micros(),
            utc_offset_minutes: 0,
        }
    }

    /// Microseconds since 1970-01-01 UTC of a timestamp (offset applied);
    /// `None` for an interval. Lets timestamps in different zones compare.
    pub fn timestamp_micros(&self) -> Option<i128> {
        match *self {
            CimDateTime::Timestamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
                microsecond,
                utc_offset_minutes,
            } => {
                let days = days_from_civil(year as i64, month as i64, day as i64) as i128;
                let secs =
                    days * 86_400 + hour as i128 * 3600 + minute as i128 * 60 + second as i128
                        - utc_offset_minutes as i128 * 60;
                Some(secs * 1_000_000 + microsecond as i128)
            }
            CimDateTime::Interval { .. } => None,
        }
    }

    /// The length of an interval in microseconds; `None` for a timestamp.
    pub fn interval_micros(&self) -> Option<i128> {
        self.as_duration().map(|d| d.as_micros() as i128)
    }

    /// The current time, UTC.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }
}

/// Days from 1970-01-01 to a proleptic Gregorian date: count 400-year eras
/// from a year that starts in March, so the leap day falls at the end.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

// Howard Hinnant's days-to-civil algorithm (public domain description).
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (y, m, d)
}

impl fmt::Display for CimDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CimDateTime::Timestamp {
                year,
                month,
                day,
                hour,
                minute,
                second,
                microsecond,
                utc_offset_minutes,
            } => {
                let sign = if utc_offset_minutes < 0 { '-' } else { '+' };
                write!(
                    f,
                    "{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}.{microsecond:06}{sign}{:03}",
                    utc_offset_minutes.unsigned_abs()
                )
            }
            CimDateTime::Interval {
                days,
                hours,
                minutes,
                seconds,
                microseconds,
            } => write!(
                f,
                "{days:08}{hours:02}{minutes:02}{seconds:02}.{microseconds:06}:000"
            ),
        }
    }
}

fn digits(s: &str, what: &'static str, value: &str) -> Result<u32, InvalidDateTime> {
    // Asterisks mark insignificant digits (DSP0004); treat them as zero.
    let mut n = 0u32;
    for c in s.chars() {
        let d = match c {
            '0'..='9' => c as u32 - '0' as u32,
            '*' => 0,
            _ => {
                return Err(InvalidDateTime {
                    value: value.to_string(),
                    reason: what,
                })
            }
        };
        n = n * 10 + d;
    }
    Ok(n)
}

impl FromStr for CimDateTime {
    type Err = InvalidDateTime;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| InvalidDateTime {
            value: s.to_string(),
            reason,
        };
        if s.len() != 25 || !s.is_ascii() {
            return Err(err("must be 25 ASCII characters"));
        }
        if &s[14..15] != "." {
            return Err(err("expected `.` at position 15"));
        }
        let sign = &s[21..22];
        match sign {
            ":" => {
                if &s[22..25] != "000" {
                    return Err(err("interval must end in `:000`"));
                }
                let hours = digits(&s[8..10], "bad hours", s)?;
                let minutes = digits(&s[10..12], "bad minutes", s)?;
                let seconds = digits(&s[12..14], "bad seconds", s)?;
                if hours > 23 || minutes > 59 || seconds > 59 {
                    return Err(err("interval field out of range"));
                }
                Ok(CimDateTime::Interval {
                    days: digits(&s[0..8], "bad days", s)?,
                    hours: hours as u8,
                    minutes: minutes as u8,
                    seconds: seconds as u8,
                    microseconds: digits(&s[15..21], "bad microseconds", s)?,
                })
            }
            "+" | "-" => {
                let month = digits(&s[4..6], "bad month", s)?;
                let day = digits(&s[6..8], "bad day", s)?;
                let hour = digits(&s[8..10], "bad hour", s)?;
                let minute = digits(&s[10..12], "bad minute", s)?;
                let second = digits(&s[12..14], "bad second", s)?;
                if month > 12 || day > 31 || hour > 23 || minute > 59 || second > 60 {
                    return Err(err("timestamp field out of range"));
                }
                let offset = digits(&s[22..25], "bad UTC offset", s)? as i16;
                Ok(CimDateTime::Timestamp {
                    year: digits(&s[0..4], "bad year", s)? as u16,
                    month: month as u8,
                    day: day as u8,
                    hour: hour as u8,
                    minute: minute as u8,
                    second: second as u8,
                    microsecond: digits(&s[15..21], "bad microseconds", s)?,
                    utc_offset_minutes: if sign == "-" { -offset } else { offset },
                })
            }
            _ => Err(err("expected `+`, `-` or `:` at position 22")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_and_intervals_round_trip() {
        for s in [
            "20261121103000.123456+060",
            "19991231235959.000000-300",
            "00000000000500.000000:000",
            "12345678235959.999999:000",
        ] {
            let d: CimDateTime = s.parse().expect(s);
            assert_eq!(d.to_string(), s);
        }
    }

    #[test]
    fn bad_datetimes_are_refused() {
        for s in [
            "",
            "2026",
            "20261321103000.123456+060",
            "00000000000500.000000:001",
            "2026112110300x.123456+060",
        ] {
            assert!(s.parse::<CimDateTime>().is_err(), "{s}");
        }
    }

    #[test]
    fn interval_duration_round_trip() {
        let d = Duration::from_secs(3 * 86_400 + 3661) + Duration::from_micros(5);
        assert_eq!(CimDateTime::interval(d).as_duration(), Some(d));
        assert_eq!(
            CimDateTime::interval(Duration::from_secs(300)).to_string(),
            "00000000000500.000000:000"
        );
    }

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        assert_eq!(
            days_from_civil(2024, 2, 29) + 1,
            days_from_civil(2024, 3, 1)
        );
        for z in [-800_000i64, -1, 0, 1, 11_017, 20_000, 2_000_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m as i64, d as i64), z);
        }
    }

    #[test]
    fn timestamps_compare_across_offsets() {
        let a: CimDateTime = "20261121103000.000000+060".parse().unwrap();
        let b: CimDateTime = "20261121093000.000000+000".parse().unwrap();
        assert_eq!(a.timestamp_micros(), b.timestamp_micros());
        assert_eq!(a.interval_micros(), None);
        let i: CimDateTime = "00000001000000.000005:000".parse().unwrap();
        assert_eq!(i.interval_micros(), Some(86_400_000_005));
        assert_eq!(i.timestamp_micros(), None);
    }

    #[test]
    fn epoch_is_1970() {
        let t = CimDateTime::from_system_time(UNIX_EPOCH + Duration::from_secs(86_400 * 365));
        assert_eq!(t.to_string(), "19710101000000.000000+000");
    }
}
