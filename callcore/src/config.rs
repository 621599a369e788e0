//! Configuration: command-line flags override `CALLCORE_*` environment variables, which
//! override an optional TOML file, which overrides the defaults.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Settings a TOML file may hold (every key optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address.
    pub http: Option<SocketAddr>,
    /// SIP listen address.
    pub sip: Option<SocketAddr>,
    /// Database URL (PostgreSQL); empty for SQLite under the data directory.
    pub database_url: Option<String>,
    /// Hours a login session lasts.
    pub session_hours: Option<u32>,
    /// Failed logins before a sub-account is locked.
    pub max_failed_logins: Option<u32>,
    /// Minutes a locked sub-account stays locked.
    pub lockout_minutes: Option<u32>,
    /// Login attempts one address may make per minute.
    pub login_attempts_per_minute: Option<u32>,
    /// Seconds an extension rings before an inbound call is missed.
    pub ring_timeout_seconds: Option<u32>,
    /// Seconds without RTP after which an answered call is hung up.
    pub media_timeout_seconds: Option<u32>,
    /// The address phones and carriers reach callcore at (SIP Via/Contact, SDP media).
    pub public_ip: Option<IpAddr>,
    /// The TTS program (default `espeak-ng`).
    pub tts_program: Option<PathBuf>,
    /// The TTS voice (default `cmn`, Mandarin).
    pub tts_voice: Option<String>,
    /// Private services IVR HTTP nodes may reach (`"10.1.2.3"`, `"10.8.0.0/16"`); every other
    /// loopback, private, link-local or otherwise internal address is refused.
    pub ivr_http_allow: Option<Vec<String>>,
    /// SIP over TCP: connections open at once on the node.
    pub sip_tcp_max_connections: Option<usize>,
    /// SIP over TCP: connections open at once from one address.
    pub sip_tcp_max_per_source: Option<usize>,
    /// SIP over TCP: seconds a new connection has to send its first message.
    pub sip_tcp_first_message_seconds: Option<u64>,
    /// SIP over TCP: seconds a connection may send nothing before it is closed.
    pub sip_tcp_idle_seconds: Option<u64>,
    /// MiB of IVR prompts kept in memory.
    pub prompt_cache_mib: Option<u64>,
    /// MiB of spoken texts kept under `data/tts/`.
    pub tts_cache_mib: Option<u64>,
    /// File jobs (exports, imports, packages) run at once on the node.
    pub file_job_workers: Option<usize>,
    /// Seconds a node's claim on a file job holds unless renewed; a job whose node died is
    /// taken over after this.
    pub file_job_lease_seconds: Option<u64>,
    /// Largest sheet upload, in MiB.
    pub file_upload_max_mib: Option<u64>,
    /// Most data rows an uploaded sheet may have.
    pub file_import_max_rows: Option<u64>,
    /// Most MiB an uploaded xlsx may unpack to (a zip bomb is refused).
    pub file_unpacked_max_mib: Option<u64>,
}

/// How file jobs run and what uploads may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileJobConfig {
    /// Jobs run at once.
    pub workers: usize,
    /// Seconds a claim holds unless renewed.
    pub lease_seconds: u64,
    /// Largest upload in MiB.
    pub upload_max_mib: u64,
    /// Most data rows.
    pub import_max_rows: u64,
    /// Most MiB an xlsx may unpack to.
    pub unpacked_max_mib: u64,
}

impl Default for FileJobConfig {
    fn default() -> Self {
        Self {
            workers: 2,
            lease_seconds: 30,
            upload_max_mib: 100,
            import_max_rows: 1_000_000,
            unpacked_max_mib: 2_048,
        }
    }
}

/// The settings in force.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory (SQLite file, recordings, files).
    pub data_dir: PathBuf,
    /// HTTP listen address.
    pub http: SocketAddr,
    /// SIP listen address (UDP).
    pub sip: SocketAddr,
    /// Database URL; `None` for SQLite under the data directory.
    pub database_url: Option<String>,
    /// Hours a login session lasts.
    pub session_hours: u32,
    /// Failed logins before a sub-account is locked.
    pub max_failed_logins: u32,
    /// Minutes a locked sub-account stays locked.
    pub lockout_minutes: u32,
    /// Login attempts one address may make per minute.
    pub login_attempts_per_minute: u32,
    /// Seconds an extension rings before an inbound call is missed.
    pub ring_timeout_seconds: u32,
    /// Seconds without RTP after which an answered call is hung up.
    pub media_timeout_seconds: u32,
    /// The address phones and carriers reach callcore at; `None`: the SIP address, or when
    /// that is a wildcard, the address of the interface with the default route.
    pub public_ip: Option<IpAddr>,
    /// The TTS program.
    pub tts_program: PathBuf,
    /// The TTS voice.
    pub tts_voice: String,
    /// Private services IVR HTTP nodes may reach.
    pub ivr_http_allow: Vec<String>,
    /// Limits on SIP over TCP.
    pub sip_tcp: calls::TcpLimits,
    /// How much the prompt caches keep (memory, and spoken texts on disk).
    pub prompt_budget: calls::prompts::PromptBudget,
    /// File jobs and uploads.
    pub file_jobs: FileJobConfig,
}

/// What flags and environment gave (clap merges the two).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--data-dir` / `CALLCORE_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// `--http` / `CALLCORE_HTTP`.
    pub http: Option<SocketAddr>,
    /// `--sip` / `CALLCORE_SIP`.
    pub sip: Option<SocketAddr>,
    /// `--database-url` / `CALLCORE_DATABASE_URL`.
    pub database_url: Option<String>,
    /// `--public-ip` / `CALLCORE_PUBLIC_IP`.
    pub public_ip: Option<IpAddr>,
    /// `--config` / `CALLCORE_CONFIG`.
    pub config_file: Option<PathBuf>,
}

/// A configuration problem, named for a person.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An entry of `ivr_http_allow` is not an address or a block.
    #[error("ivr_http_allow: '{0}' is not an IP address or a block such as 10.8.0.0/16")]
    AllowList(String),
    /// The file is not valid TOML for callcore.
    #[error("config file {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        source: toml::de::Error,
    },
}

impl Config {
    /// Resolves the settings from `overrides` and the TOML file they name (if any).
    pub fn resolve(overrides: Overrides) -> Result<Self, ConfigError> {
        let file = match &overrides.config_file {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = overrides
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = overrides
            .database_url
            .or(file.database_url)
            .filter(|u| !u.trim().is_empty());
        let ivr_http_allow = file.ivr_http_allow.clone().unwrap_or_default();
        if let Some(bad) = ivr_http_allow
            .iter()
            .find(|entry| calls::http_guard::AddressBlock::parse(entry).is_none())
        {
            return Err(ConfigError::AllowList(bad.clone()));
        }
        Ok(Self {
            data_dir,
            http: overrides
                .http
                .or(file.http)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
            sip: overrides
                .sip
                .or(file.sip)
                .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 5060))),
            database_url,
            session_hours: file.session_hours.unwrap_or(12).max(1),
            max_failed_logins: file.max_failed_logins.unwrap_or(5).max(1),
            lockout_minutes: file.lockout_minutes.unwrap_or(15).max(1),
            login_attempts_per_minute: file.login_attempts_per_minute.unwrap_or(60).max(1),
            ring_timeout_seconds: file.ring_timeout_seconds.unwrap_or(30).clamp(1, 999),
            media_timeout_seconds: file.media_timeout_seconds.unwrap_or(60).clamp(1, 3_600),
            public_ip: overrides.public_ip.or(file.public_ip),
            tts_program: file
                .tts_program
                .unwrap_or_else(|| PathBuf::from("espeak-ng")),
            tts_voice: file
                .tts_voice
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| "cmn".to_owned()),
            ivr_http_allow,
            sip_tcp: {
                let default = calls::TcpLimits::default();
                calls::TcpLimits {
                    max_connections: file
                        .sip_tcp_max_connections
                        .unwrap_or(default.max_connections)
                        .max(1),
                    max_per_source: file
                        .sip_tcp_max_per_source
                        .unwrap_or(default.max_per_source)
                        .max(1),
                    first_message: file
                        .sip_tcp_first_message_seconds
                        .map_or(default.first_message, |s| Duration::from_secs(s.max(1))),
                    idle: file
                        .sip_tcp_idle_seconds
                        .map_or(default.idle, |s| Duration::from_secs(s.max(60))),
                }
            },
            prompt_budget: {
                let default = calls::prompts::PromptBudget::default();
                calls::prompts::PromptBudget {
                    memory_bytes: file
                        .prompt_cache_mib
                        .map_or(default.memory_bytes, |m| m.max(1) << 20),
                    tts_bytes: file
                        .tts_cache_mib
                        .map_or(default.tts_bytes, |m| m.max(1) << 20),
                }
            },
            file_jobs: {
                let default = FileJobConfig::default();
                FileJobConfig {
                    workers: file
                        .file_job_workers
                        .unwrap_or(default.workers)
                        .clamp(1, 64),
                    lease_seconds: file
                        .file_job_lease_seconds
                        .unwrap_or(default.lease_seconds)
                        .clamp(2, 3_600),
                    upload_max_mib: file
                        .file_upload_max_mib
                        .unwrap_or(default.upload_max_mib)
                        .clamp(1, 4_096),
                    import_max_rows: file
                        .file_import_max_rows
                        .unwrap_or(default.import_max_rows)
                        .clamp(1, 10_000_000),
                    unpacked_max_mib: file
                        .file_unpacked_max_mib
                        .unwrap_or(default.unpacked_max_mib)
                        .clamp(1, 65_536),
                }
            },
        })
    }
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_file_which_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("callcore-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        let path = dir.join("callcore.toml");
        std::fs::write(
            &path,
            "http = \"127.0.0.1:9000\"\nsession_hours = 2\ndata_dir = \"/tmp/x\"\n",
        )
        .expect("temp file is writable");
        let config = Config::resolve(Overrides {
            data_dir: Some(PathBuf::from("/tmp/y")),
            config_file: Some(path.clone()),
            ..Overrides::default()
        })
        .expect("the file is valid");
        assert_eq!(config.data_dir, PathBuf::from("/tmp/y"));
        assert_eq!(config.http, SocketAddr::from(([127, 0, 0, 1], 9000)));
        assert_eq!(config.session_hours, 2);
        assert_eq!(
            crate::node_settings(&config).database(),
            "/tmp/y/callcore.db"
        );
        std::fs::write(&path, "htp = 1\n").expect("temp file is writable");
        let error = Config::resolve(Overrides {
            config_file: Some(path),
            ..Overrides::default()
        });
        assert!(matches!(error, Err(ConfigError::Parse { .. })));
    }
}
