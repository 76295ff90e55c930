use std::fmt;
use std::str::FromStr;

/// What a token may do. Each tier inherits everything the tiers below it may do, so the
/// derived order (`Downloader < Uploader < Master`) is the permission check.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// List versions and download archives.
    Downloader,
    /// Everything a downloader may do, plus publishing versions.
    Uploader,
    /// Everything, including token administration and pins.
    Master,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Downloader => "downloader",
            Tier::Uploader => "uploader",
            Tier::Master => "master",
        }
    }

    /// True when a token of this tier may do what `needed` allows.
    pub fn grants(self, needed: Tier) -> bool {
        self >= needed
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownTier(pub String);

impl fmt::Display for UnknownTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown permission {:?}: expected \"downloader\", \"uploader\" or \"master\"",
            self.0
        )
    }
}

impl std::error::Error for UnknownTier {}

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "downloader" => Ok(Tier::Downloader),
            "uploader" => Ok(Tier::Uploader),
            "master" => Ok(Tier::Master),
            other => Err(UnknownTier(other.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_tier_inherits_the_ones_below() {
        assert!(Tier::Master.grants(Tier::Uploader));
        assert!(Tier::Master.grants(Tier::Downloader));
        assert!(Tier::Uploader.grants(Tier::Downloader));
        assert!(!Tier::Downloader.grants(Tier::Uploader));
        assert!(!Tier::Uploader.grants(Tier::Master));
    }

    #[test]
    fn tiers_round_trip_through_their_names() {
        for tier in [Tier::Downloader, Tier::Uploader, Tier::Master] {
            assert_eq!(tier.as_str().parse::<Tier>(), Ok(tier));
        }
        assert_eq!(
            "admin".parse::<Tier>().unwrap_err().to_string(),
            "unknown permission \"admin\": expected \"downloader\", \"uploader\" or \"master\""
        );
    }
}
