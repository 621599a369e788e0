//! Where a Chinese number is from: the libphonenumber geocoding table (`86` + prefix → region)
//! read from its text form, and a longest-prefix look-up. Mobile prefixes name the city of the
//! number's registration (`8613800138` → `北京市`), landline area codes the city (`86755` →
//! `广东省深圳市`). The table is looked-up data: the caller's region enters a call's IVR run
//! with the call's other facts.

use std::collections::HashMap;

/// The number → region table.
#[derive(Debug, Clone, Default)]
pub struct RegionTable {
    /// `(prefix length, prefix value)` → index into `regions`.
    prefixes: HashMap<(u8, u64), u16>,
    regions: Vec<String>,
    longest: u8,
}

impl RegionTable {
    /// Reads the table's text: `prefix|region` lines; `#` comments and blank lines are skipped,
    /// and so are lines that do not parse.
    pub fn parse(text: &str) -> RegionTable {
        let mut table = RegionTable::default();
        let mut index: HashMap<&str, u16> = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((prefix, region)) = line.split_once('|') else {
                continue;
            };
            let (Ok(value), Ok(length)) = (prefix.parse::<u64>(), u8::try_from(prefix.len()))
            else {
                continue;
            };
            if prefix.len() > 18 || !prefix.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let next = u16::try_from(table.regions.len()).unwrap_or(u16::MAX);
            let id = *index.entry(region).or_insert_with(|| {
                table.regions.push(region.to_owned());
                next
            });
            table.prefixes.insert((length, value), id);
            table.longest = table.longest.max(length);
        }
        table
    }

    /// The region of `e164` (`+8613800138000`, or its digits without `+`), by the longest
    /// prefix the table knows; `None` outside it.
    pub fn region_of(&self, e164: &str) -> Option<&str> {
        let digits = e164.trim().trim_start_matches('+');
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let longest = usize::from(self.longest).min(digits.len());
        for length in (1..=longest).rev() {
            let prefix = &digits[..length];
            let Ok(value) = prefix.parse::<u64>() else {
                continue;
            };
            let key = (u8::try_from(length).unwrap_or(u8::MAX), value);
            if let Some(&id) = self.prefixes.get(&key) {
                return self.regions.get(usize::from(id)).map(String::as_str);
            }
        }
        None
    }

    /// How many prefixes the table holds.
    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# Copyright (C) 2011 The Libphonenumber Authors\n\n8610|北京市\n8620|广东省广州市\n86755|广东省深圳市\n861380013|北京市\n861390200|广东省深圳市\nnot a line\n";

    #[test]
    fn the_longest_prefix_names_the_region() {
        let table = RegionTable::parse(SAMPLE);
        assert_eq!(table.len(), 5);
        assert_eq!(table.region_of("+8613800138000"), Some("北京市"));
        assert_eq!(table.region_of("+8613902001234"), Some("广东省深圳市"));
        assert_eq!(table.region_of("+8675512345678"), Some("广东省深圳市"));
        assert_eq!(table.region_of("861062345678"), Some("北京市"));
        assert_eq!(table.region_of("+12025550100"), None);
        assert_eq!(table.region_of("+86abc"), None);
    }
}
