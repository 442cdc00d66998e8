/*! The one way devarch writes a point in time for people and programs: [`Timestamp`], whole
seconds since the Unix epoch, shown and serialized as RFC 3339 in UTC
(`2026-12-06T05:00:00Z`). Status files, the HTTP API, its events and `-o json` outputs all
carry times this way; reading also accepts the bare Unix seconds that earlier versions
wrote into status files.
*/

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, to the second (see the module header).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(u64);

impl Timestamp {
    /// Now (the epoch if the clock is before it).
    pub fn now() -> Self {
        Timestamp(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        )
    }

    /// `secs` seconds after the Unix epoch.
    pub fn from_unix(secs: u64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> u64 {
        self.0
    }

    /// Parses RFC 3339 in UTC (`2026-12-06T05:00:00Z`; fractions of a second are dropped).
    /// Other offsets are refused: devarch writes UTC only.
    ///
    /// # Errors
    /// Not RFC 3339, or before the epoch.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = humantime::parse_rfc3339_weak(text)
            .map_err(|e| format!("{text:?} is not an RFC 3339 time: {e}"))?;
        let secs = t
            .duration_since(UNIX_EPOCH)
            .map_err(|_| format!("{text:?} is before 1970"))?
            .as_secs();
        Ok(Timestamp(secs))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // humantime formats years up to 9999; later seconds are clamped there.
        let secs = self.0.min(253_402_300_799);
        let t = UNIX_EPOCH + Duration::from_secs(secs);
        write!(f, "{}", humantime::format_rfc3339_seconds(t))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Unix(u64),
        }
        match Either::deserialize(d)? {
            Either::Text(t) => Timestamp::parse(&t).map_err(serde::de::Error::custom),
            Either::Unix(secs) => Ok(Timestamp(secs)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_rfc_3339_in_utc() {
        let t = Timestamp::from_unix(1_796_533_200);
        assert_eq!(t.to_string(), "2026-12-06T05:00:00Z");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-12-06T05:00:00Z\""
        );
        assert_eq!(Timestamp::default().to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::from_unix(u64::MAX).to_string(),
            "9999-12-31T23:59:59Z"
        );
    }

    #[test]
    fn reads_rfc_3339_and_the_unix_seconds_of_older_status_files() {
        let want = Timestamp::from_unix(1_796_533_200);
        for text in [
            "\"2026-12-06T05:00:00Z\"",
            "\"2026-12-06T05:00:00.75Z\"",
            "1796533200",
        ] {
            let t: Timestamp = serde_json::from_str(text).unwrap();
            assert_eq!(t, want, "{text}");
        }
        for bad in [
            "\"yesterday\"",
            "\"1969-12-31T23:59:59Z\"",
            "\"2026-12-06T06:00:00+01:00\"",
            "-1",
            "1.5",
        ] {
            assert!(serde_json::from_str::<Timestamp>(bad).is_err(), "{bad}");
        }
    }
}
