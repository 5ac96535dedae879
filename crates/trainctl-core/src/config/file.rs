//! The trainctl config file: `$XDG_CONFIG_HOME/trainctl/config.toml` (or `$TRAINCTL_CONFIG`).
//!
//! It holds `[profiles.<name>]` tables of [`Profile`] and never a secret: secrets live in the OS
//! keychain ([`super::keychain`]). Loading a missing file gives an empty config; a file that is not
//! valid trainctl TOML is [`Error::ConfigCorrupt`] with the path and line, never silently ignored.
//! Saving is atomic (temp file + rename) with mode 0600.

use super::model::Profile;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Env var naming the config file directly (tests, portable installs).
pub const CONFIG_ENV: &str = "TRAINCTL_CONFIG";

/// The parsed config file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Profiles by name; each profile's `name` equals its key.
    #[serde(default)]
    pub profiles: BTreeMap<String, Profile>,
    /// The folder the file was loaded from: a relative `prices = "FILE"` is relative to it.
    #[serde(skip)]
    dir: Option<PathBuf>,
}

/// Where the config file lives: `$TRAINCTL_CONFIG`, else `$XDG_CONFIG_HOME/trainctl/config.toml`,
/// else the platform config dir (`~/.config` on Linux).
pub fn config_path() -> Result<PathBuf> {
    if let Some(p) = non_empty_env(CONFIG_ENV) {
        return Ok(PathBuf::from(p));
    }
    let base = non_empty_env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(dirs::config_dir)
        .ok_or_else(|| Error::Internal("cannot determine the config directory (no HOME?)".into()))?;
    Ok(base.join("trainctl").join("config.toml"))
}

/// Writes a file of trainctl's own (config, saved watches) atomically and privately: a temp file
/// in the same folder (mode 0600, synced), then a rename, so a crash leaves the old file or the new.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    write_private_from(path, &mut &bytes[..])
}

/// [`write_private`] of whatever `src` yields (a manifest of millions of lines is copied, never
/// read into memory).
pub fn write_private_from(path: &Path, src: &mut dyn std::io::Read) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| Error::io(dir, e))?;
    set_private_mode(tmp.path())?;
    std::io::copy(src, &mut tmp).map_err(|e| Error::io(tmp.path(), e))?;
    tmp.as_file().sync_all().map_err(|e| Error::io(tmp.path(), e))?;
    tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    Ok(())
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl ConfigFile {
    /// Loads the config from [`config_path`].
    pub fn load() -> Result<ConfigFile> {
        Self::load_from(&config_path()?)
    }

    /// Loads the config at `path`; a missing file is an empty config.
    pub fn load_from(path: &Path) -> Result<ConfigFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
            Err(e) => return Err(Error::io(path, e)),
        };
        let mut cfg = Self::parse(path, &text)?;
        cfg.dir = path.parent().map(Path::to_path_buf);
        Ok(cfg)
    }

    /// A profile's `prices` value as a table spec: a built-in id (`aws/us-east-1`) stays as is;
    /// a relative file is made relative to the config file's folder.
    pub fn prices_spec(&self, raw: &str) -> String {
        let path = Path::new(raw);
        match &self.dir {
            Some(dir) if path.is_relative() && crate::cost::builtin_id(raw).is_none() => dir.join(path).display().to_string(),
            _ => raw.to_string(),
        }
    }

    /// Parses config text; `path` is only used in errors.
    pub fn parse(path: &Path, text: &str) -> Result<ConfigFile> {
        let mut cfg: ConfigFile = toml::from_str(text).map_err(|e| corrupt(path, text, &e))?;
        for (name, p) in cfg.profiles.iter_mut() {
            p.name = name.clone();
            // The checks `profile add` makes, so a hand edit fails here, naming the profile,
            // rather than later as a confusing connection error.
            super::model::validate(p).map_err(|e| Error::ConfigCorrupt { path: path.to_path_buf(), reason: format!("[profiles.{name}]: {e}") })?;
        }
        Ok(cfg)
    }

    /// Saves to [`config_path`].
    pub fn save(&self) -> Result<()> {
        self.save_to(&config_path()?)
    }

    /// Writes atomically to `path` (temp file in the same directory, then rename), mode 0600.
    pub fn save_to(&self, path: &Path) -> Result<()> {
        write_private(path, self.to_toml()?.as_bytes())
    }

    /// The TOML text of this config; profile names are the table keys, not repeated inside.
    pub fn to_toml(&self) -> Result<String> {
        let mut root = toml::Table::new();
        let mut profiles = toml::Table::new();
        for (name, p) in &self.profiles {
            let mut v = toml::Value::try_from(p).map_err(|e| Error::Internal(format!("serialize profile: {e}")))?;
            if let Some(t) = v.as_table_mut() {
                t.remove("name");
            }
            profiles.insert(name.clone(), v);
        }
        root.insert("profiles".into(), toml::Value::Table(profiles));
        let header = "# trainctl profiles. No secrets here: they live in the OS keychain.\n";
        Ok(format!("{header}{}", toml::to_string_pretty(&root).map_err(|e| Error::Internal(e.to_string()))?))
    }

    /// Adds or replaces the profile named `profile.name`.
    pub fn upsert(&mut self, profile: Profile) {
        self.profiles.insert(profile.name.clone(), profile);
    }

    /// Removes a profile, returning it if it existed.
    pub fn remove(&mut self, name: &str) -> Option<Profile> {
        self.profiles.remove(name)
    }
}

fn corrupt(path: &Path, text: &str, e: &toml::de::Error) -> Error {
    let line = e.span().map(|s| crate::limits::prefix_at_most(text, s.start).lines().count().max(1));
    let msg = e.message().trim().to_string();
    let reason = match line {
        Some(l) => format!("line {l}: {msg}"),
        None => msg,
    };
    Error::ConfigCorrupt { path: path.to_path_buf(), reason }
}

fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|e| Error::io(dir, e))
}

fn set_private_mode(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| Error::io(path, e))?;
    }
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::CredentialSource;

    fn keychain_profile() -> Profile {
        Profile {
            name: "lab".into(),
            provider: Some("minio".into()),
            endpoint_url: Some("http://127.0.0.1:9000".into()),
            region: Some("us-east-1".into()),
            path_style: Some(true),
            checksum_when_required: None,
            credentials: CredentialSource::Keychain { access_key_id: "AKIALAB".into() },
            prices: None,
        }
    }

    #[test]
    fn missing_file_is_an_empty_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ConfigFile::load_from(&dir.path().join("nope.toml")).unwrap();
        assert!(cfg.profiles.is_empty());
    }

    #[test]
    fn save_then_load_round_trips_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.toml");
        let mut cfg = ConfigFile::default();
        cfg.upsert(keychain_profile());
        cfg.save_to(&path).unwrap();
        assert_eq!(ConfigFile::load_from(&path).unwrap().profiles, cfg.profiles);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn saved_config_never_contains_the_secret() {
        crate::config::keychain::use_mock();
        let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETSECRET";
        crate::config::keychain::set_secret("lab", secret).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut cfg = ConfigFile::default();
        cfg.upsert(keychain_profile());
        cfg.save_to(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("AKIALAB"), "the key id is kept for display");
        assert!(!text.contains(secret) && !text.contains("SECRETSECRET"));
        crate::config::keychain::delete_secret("lab").unwrap();
    }

    #[test]
    fn invalid_toml_is_config_corrupt_with_line() {
        let text = "[profiles.a]\nendpoint_url = \"http://x\"\nregion = = 3\n";
        match ConfigFile::parse(Path::new("/c.toml"), text) {
            Err(Error::ConfigCorrupt { path, reason }) => {
                assert_eq!(path, Path::new("/c.toml"));
                assert!(reason.starts_with("line 3"), "{reason}");
            }
            other => panic!("expected ConfigCorrupt, got {other:?}"),
        }
    }

    #[test]
    fn unknown_structure_is_config_corrupt() {
        for text in ["[profile.a]\nregion = \"x\"\n", "[profiles.a]\nregoin = \"x\"\n", "profiles = 3\n"] {
            assert!(matches!(ConfigFile::parse(Path::new("c"), text), Err(Error::ConfigCorrupt { .. })), "{text}");
        }
    }

    #[test]
    fn a_hand_edited_profile_value_is_config_corrupt_naming_the_profile_and_field() {
        for (text, field) in [
            ("[profiles.lab]\nendpoint_url = \"ftp://x\"\n", "endpoint"),
            ("[profiles.lab]\nprovider = \"nope\"\n", "provider"),
            ("[profiles.\"a b\"]\nregion = \"x\"\n", "profile name"),
            ("[profiles.k]\ncredentials = { type = \"keychain\", access_key_id = \" \" }\n", "access key id"),
        ] {
            match ConfigFile::parse(Path::new("/c.toml"), text) {
                Err(e @ Error::ConfigCorrupt { .. }) => {
                    let m = e.to_string();
                    assert!(m.contains("/c.toml") && m.contains("[profiles.") && m.contains(field), "{m}");
                }
                other => panic!("{text}: expected ConfigCorrupt, got {other:?}"),
            }
        }
    }

    #[test]
    fn profile_name_comes_from_the_table_key() {
        let cfg = ConfigFile::parse(Path::new("c"), "[profiles.r2]\nendpoint_url = \"https://a.r2.cloudflarestorage.com\"\n").unwrap();
        assert_eq!(cfg.profiles["r2"].name, "r2");
        assert!(!cfg.to_toml().unwrap().contains("name ="));
    }
}
