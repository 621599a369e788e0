//! A WAV file written as it grows: 8 kHz mono 16-bit PCM, the header first with sizes of zero
//! and set when the file is finished (RIFF/WAVE with a 16-byte `fmt ` chunk, as every player
//! reads). Samples are appended in blocks, so a recording costs one buffered write per block.
//! A finished file is on the disk (file and directory flushed) before the event that
//! acknowledges it can be recorded.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Samples per second of the files written here.
pub const RATE: u32 = 8_000;

/// The size of the header before the samples.
const HEADER: u32 = 44;

/// An open WAV file being appended to.
#[derive(Debug)]
pub struct WavOut {
    file: BufWriter<File>,
    dir: PathBuf,
    data_bytes: u32,
    block: Vec<u8>,
}

impl WavOut {
    /// Creates (or truncates) the file at `path` and writes its header.
    pub fn create(path: &Path) -> std::io::Result<WavOut> {
        let mut file = BufWriter::with_capacity(16 * 1024, File::create(path)?);
        file.write_all(&header(0))?;
        Ok(WavOut {
            file,
            dir: path
                .parent()
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
            data_bytes: 0,
            block: Vec::new(),
        })
    }

    /// Appends `samples`, clamping each to 16 bits.
    pub fn append(&mut self, samples: &[i32]) -> std::io::Result<()> {
        self.block.clear();
        self.block.extend(samples.iter().flat_map(|&sample| {
            let clamped = sample.clamp(i32::from(i16::MIN), i32::from(i16::MAX));
            i16::try_from(clamped).unwrap_or_default().to_le_bytes()
        }));
        let added = u32::try_from(self.block.len()).unwrap_or(u32::MAX);
        let data_bytes = self
            .data_bytes
            .checked_add(added)
            .filter(|total| *total <= u32::MAX - HEADER)
            .ok_or_else(|| std::io::Error::other("a WAV file holds at most 4 GiB"))?;
        self.file.write_all(&self.block)?;
        self.data_bytes = data_bytes;
        Ok(())
    }

    /// Samples appended so far.
    pub fn samples(&self) -> u64 {
        u64::from(self.data_bytes / 2)
    }

    /// Sets the sizes in the header and closes the file (left to the system to write out).
    pub fn finish(mut self) -> std::io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.file.write_all(&header(self.data_bytes))?;
        self.file.flush()?;
        self.file.get_ref().sync_all()?;
        File::open(&self.dir)?.sync_all()
    }
}

/// The 44-byte header of a file holding `data_bytes` bytes of samples.
fn header(data_bytes: u32) -> [u8; 44] {
    let mut header = [0u8; 44];
    let fields: [(usize, &[u8]); 13] = [
        (0, b"RIFF"),
        (4, &(36 + data_bytes).to_le_bytes()),
        (8, b"WAVE"),
        (12, b"fmt "),
        (16, &16u32.to_le_bytes()),
        (20, &1u16.to_le_bytes()), // PCM
        (22, &1u16.to_le_bytes()), // mono
        (24, &RATE.to_le_bytes()),
        (28, &(RATE * 2).to_le_bytes()), // bytes per second
        (32, &2u16.to_le_bytes()),       // bytes per frame
        (34, &16u16.to_le_bytes()),      // bits per sample
        (36, b"data"),
        (40, &data_bytes.to_le_bytes()),
    ];
    for (at, bytes) in fields {
        header[at..at + bytes.len()].copy_from_slice(bytes);
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finished_file_reads_back_as_the_samples_appended() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = std::env::temp_dir().join(format!("callcore-wav-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("out.wav");
        let mut out = WavOut::create(&path)?;
        out.append(&[0, 1_000, -1_000])?;
        out.append(&[40_000, -40_000])?;
        assert_eq!(out.samples(), 5);
        out.finish()?;
        let reader = hound::WavReader::open(&path)?;
        let spec = reader.spec();
        assert_eq!(
            (spec.sample_rate, spec.channels, spec.bits_per_sample),
            (8_000, 1, 16)
        );
        let samples: Vec<i16> = reader.into_samples::<i16>().collect::<Result<_, _>>()?;
        assert_eq!(
            samples,
            [0, 1_000, -1_000, i16::MAX, i16::MIN],
            "clamped to 16 bits"
        );
        assert_eq!(std::fs::metadata(&path)?.len(), 44 + 10);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
