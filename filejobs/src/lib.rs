//! File management's background work (文件管理, manual §8): checking uploaded sheets,
//! exports to xlsx in constant memory, imports through a column mapping with a report of
//! the rows refused, and recording packages, run as jobs whose every state is an event of
//! their data file ([`domain::data_file`]). [`FileJobs`] is a node's runner.

pub mod dispatch;
pub mod exports;
pub mod import;
pub mod inspect;
pub mod job;
pub mod package;
pub mod progress;
pub mod rows;
pub mod runner;
pub mod sheet;
pub mod spec;
pub mod store;

pub use runner::{FileJobSettings, FileJobs};
