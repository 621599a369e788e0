//! What IVR prompts sound like: recordings of the voice library and texts spoken by the
//! `espeak-ng` program, both as 8 kHz prompts ready to play. Spoken texts are cached on disk by
//! voice and text (`data/tts/`, at most `tts_cache_bytes`, least recently used deleted first),
//! and prompt files once read are kept in memory (at most `prompt_cache_bytes`, the same way),
//! so a cached prompt starts playing without touching the disk. A missing `espeak-ng` is reported once at
//! start and then as an error for each text, never a hang: synthesis has a deadline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

mod lru;

use domain::policy::ivr::Utterance;
use lru::ByteLru;
use projections::{VoiceDoc, VOICES};
use sha2::{Digest, Sha256};
use telephony::media::convert;
use telephony::media::player::Prompt;
use tracing::warn;
use uuid::Uuid;

use node::Node;

/// Longest a synthesis may take.
const TTS_DEADLINE: Duration = Duration::from_secs(10);

/// Why a prompt item could not be played.
#[derive(Debug, thiserror::Error)]
pub enum PromptFailure {
    /// The recording is not in the enterprise's voice library (or not approved).
    #[error("recording {0} is not an approved recording of the enterprise")]
    NoRecording(Uuid),
    /// Its file could not be read.
    #[error("recording file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// TTS failed.
    #[error("text to speech failed: {0}")]
    Tts(String),
}

/// An uploaded recording as prompts play it: an 8 kHz mono WAV and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRecording {
    /// The WAV file's bytes.
    pub wav: Vec<u8>,
    /// How long it plays.
    pub duration_ms: u64,
}

/// Why an upload cannot be a recording, in words for the person who sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecordingRefused(pub String);

/// Converts an uploaded WAV (any common layout, at most `max_seconds` long) to the 8 kHz mono
/// form prompts are played from. CPU-bound: run it on a blocking thread.
pub fn prepare_recording(
    bytes: &[u8],
    max_seconds: u64,
) -> Result<PreparedRecording, RecordingRefused> {
    prepare_recording_from(bytes, max_seconds)
}

/// [`prepare_recording`] reading the WAV from `source` (an upload on disk) as it converts.
pub fn prepare_recording_from(
    source: impl std::io::Read,
    max_seconds: u64,
) -> Result<PreparedRecording, RecordingRefused> {
    let refused = |e: convert::ConvertError| RecordingRefused(e.to_string());
    let samples = convert::to_telephony_from(source, max_seconds).map_err(refused)?;
    let wav = convert::wav_bytes(&samples).map_err(refused)?;
    Ok(PreparedRecording {
        wav,
        duration_ms: samples.len() as u64 * 1_000 / u64::from(convert::TELEPHONY_RATE),
    })
}

/// How much a prompt library may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptBudget {
    /// Bytes of prompts held in memory.
    pub memory_bytes: u64,
    /// Bytes of spoken texts kept under `data/tts/`.
    pub tts_bytes: u64,
}

impl Default for PromptBudget {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            tts_bytes: 256 << 20,
        }
    }
}

/// The prompt sources of a node: recordings, TTS and the cache of both.
#[derive(Debug)]
pub struct PromptLibrary {
    data_dir: PathBuf,
    program: PathBuf,
    voice: String,
    loaded: ByteLru<PathBuf, Arc<Prompt>>,
    spoken: ByteLru<PathBuf, ()>,
}

impl PromptLibrary {
    /// A library reading under `data_dir`, speaking with `program` in `voice`, keeping at most
    /// `budget`; the spoken texts already on disk count from the start (oldest first out).
    pub fn new(data_dir: &Path, program: PathBuf, voice: String, budget: PromptBudget) -> Self {
        let library = Self {
            data_dir: data_dir.to_path_buf(),
            program,
            voice,
            loaded: ByteLru::new(budget.memory_bytes),
            spoken: ByteLru::new(budget.tts_bytes),
        };
        let mut on_disk: Vec<(std::time::SystemTime, PathBuf, u64)> =
            std::fs::read_dir(library.data_dir.join("tts"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|entry| {
                    let meta = entry.metadata().ok()?;
                    let path = entry.path();
                    if path.extension()? != "wav" {
                        return None;
                    }
                    Some((meta.modified().ok()?, path, meta.len()))
                })
                .collect();
        on_disk.sort();
        for (_, path, bytes) in on_disk {
            library.keep_spoken(path, bytes);
        }
        library
    }

    /// Counts a spoken text's file; deletes the least recently used ones past the budget.
    fn keep_spoken(&self, path: PathBuf, bytes: u64) {
        for (old, ()) in self.spoken.insert(path, (), bytes) {
            let _ = std::fs::remove_file(&old);
        }
    }

    /// Whether the TTS program runs; logs a warning when it does not.
    pub async fn check_tts(&self) -> bool {
        let ran = tokio::time::timeout(
            TTS_DEADLINE,
            tokio::process::Command::new(&self.program)
                .arg("--version")
                .kill_on_drop(true)
                .output(),
        )
        .await;
        let ok = matches!(ran, Ok(Ok(ref out)) if out.status.success());
        if !ok {
            warn!(
                program = %self.program.display(),
                "text to speech is unavailable: IVR text prompts will fail until espeak-ng is installed"
            );
        }
        ok
    }

    /// The prompt in the 8 kHz WAV file `path`, from memory after the first read.
    async fn load(&self, path: PathBuf) -> Result<Arc<Prompt>, PromptFailure> {
        if let Some(prompt) = self.loaded.get(&path) {
            return Ok(prompt);
        }
        let read = path.clone();
        let prompt = tokio::task::spawn_blocking(move || Prompt::load(&read))
            .await
            .map_err(|e| PromptFailure::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?
            .map_err(|e| PromptFailure::File {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        let prompt = Arc::new(prompt);
        self.hold(path, prompt.clone());
        Ok(prompt)
    }

    /// Keeps `prompt` in memory within the budget.
    fn hold(&self, path: PathBuf, prompt: Arc<Prompt>) {
        let bytes = prompt.samples().len() as u64 * 2;
        self.loaded.insert(path, prompt, bytes);
    }

    /// The cache file of `text` in the configured voice.
    fn tts_path(&self, text: &str) -> PathBuf {
        let mut hash = Sha256::new();
        hash.update(self.voice.as_bytes());
        hash.update([0]);
        hash.update(text.as_bytes());
        let name = hex::encode(&hash.finalize()[..16]);
        self.data_dir.join("tts").join(format!("{name}.wav"))
    }

    /// `text` spoken, from the cache or synthesized now.
    async fn speak(&self, text: &str) -> Result<Arc<Prompt>, PromptFailure> {
        let path = self.tts_path(text);
        if self.loaded.contains(&path) || tokio::fs::try_exists(&path).await.unwrap_or(false) {
            // A use of the file on disk too, so that it stays.
            let _ = self.spoken.get(&path);
            return self.load(path).await;
        }
        let dir = path.parent().unwrap_or(&self.data_dir).to_path_buf();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| PromptFailure::Tts(e.to_string()))?;
        let raw = path.with_extension(format!("{}.raw.wav", Uuid::new_v4().simple()));
        let run = tokio::process::Command::new(&self.program)
            .arg("-v")
            .arg(&self.voice)
            .arg("-w")
            .arg(&raw)
            .arg("--")
            .arg(text)
            .kill_on_drop(true)
            .output();
        let output = match tokio::time::timeout(TTS_DEADLINE, run).await {
            Err(_) => Err("espeak-ng took too long".to_owned()),
            Ok(Err(e)) => Err(format!("{} could not run: {e}", self.program.display())),
            Ok(Ok(out)) if !out.status.success() => Err(format!(
                "espeak-ng failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Ok(Ok(_)) => Ok(()),
        };
        if let Err(reason) = output {
            let _ = tokio::fs::remove_file(&raw).await;
            return Err(PromptFailure::Tts(reason));
        }
        let bytes = tokio::fs::read(&raw).await;
        let _ = tokio::fs::remove_file(&raw).await;
        let bytes = bytes.map_err(|e| PromptFailure::Tts(e.to_string()))?;
        let samples = tokio::task::spawn_blocking(move || {
            convert::to_telephony(&bytes, 600).and_then(|s| Ok((convert::wav_bytes(&s)?, s)))
        })
        .await
        .map_err(|e| PromptFailure::Tts(e.to_string()))?
        .map_err(|e| PromptFailure::Tts(e.to_string()))?;
        let (wav, samples) = samples;
        // Written whole, then renamed: a reader never sees half a file.
        let partial = path.with_extension(format!("{}.part", Uuid::new_v4().simple()));
        let bytes = wav.len() as u64;
        if tokio::fs::write(&partial, wav).await.is_ok()
            && tokio::fs::rename(&partial, &path).await.is_ok()
        {
            self.keep_spoken(path.clone(), bytes);
        }
        let prompt = Arc::new(Prompt::from_samples(samples));
        self.hold(path, prompt.clone());
        Ok(prompt)
    }

    /// The file of an approved recording of `enterprise`.
    fn recording_path(&self, node: &Node, enterprise: Uuid, voice: Uuid) -> Option<PathBuf> {
        let doc: VoiceDoc = node
            .models
            .of(VOICES)
            .doc(&voice.to_string())
            .filter(|d| d.tenant_id == Some(enterprise))?
            .decode()?;
        let safe = doc.status == domain::voice::ReviewStatus::Approved
            && !doc.file.split('/').any(|p| p == "..");
        safe.then(|| self.data_dir.join(doc.file))
    }

    /// `items` as one prompt, in order; an item that cannot be played is left out and its
    /// failure returned with the rest.
    pub async fn render(
        &self,
        node: &Node,
        enterprise: Uuid,
        items: &[Utterance],
    ) -> (Prompt, Vec<PromptFailure>) {
        let mut samples = Vec::new();
        let mut failures = Vec::new();
        for item in items {
            let part = match item {
                Utterance::Recording { voice_id } => {
                    match self.recording_path(node, enterprise, *voice_id) {
                        Some(path) => self.load(path).await,
                        None => Err(PromptFailure::NoRecording(*voice_id)),
                    }
                }
                Utterance::Speech { text } => self.speak(text).await,
            };
            match part {
                Ok(prompt) => samples.extend_from_slice(prompt.samples()),
                Err(failure) => failures.push(failure),
            }
        }
        (Prompt::from_samples(samples), failures)
    }
}
