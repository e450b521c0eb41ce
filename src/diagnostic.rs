//! A message located in a file, the one error shape of everything vipd
//! reads: its YAML configuration ([`crate::config::ConfigError`]) and
//! keepalived.conf imports ([`crate::keepalived::ImportError`]). Editors and
//! terminals turn `FILE:LINE:COLUMN: message` into a jump to the place.

use std::fmt;
use std::path::{Path, PathBuf};

/// `FILE:LINE:COLUMN: message`, `FILE:LINE: message` when the column is not
/// known, `FILE: message` when the message concerns the whole file (it cannot
/// be read, or something is missing from all of it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: Option<usize>,
    /// Only meaningful with a line.
    pub column: Option<usize>,
    pub message: String,
}

impl Diagnostic {
    /// About the whole file.
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            file: file.to_path_buf(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// About one line (1-based).
    pub fn at_line(file: &Path, line: usize, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            line: Some(line),
            ..Diagnostic::whole_file(file, message)
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Diagnostic {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_as_much_location_as_known() {
        let mut d = Diagnostic::whole_file(Path::new("a.conf"), "broken");
        assert_eq!(d.to_string(), "a.conf: broken");
        d.line = Some(5);
        assert_eq!(d.to_string(), "a.conf:5: broken");
        d.column = Some(15);
        assert_eq!(d.to_string(), "a.conf:5:15: broken");
        assert_eq!(
            Diagnostic::at_line(Path::new("b"), 2, "x").to_string(),
            "b:2: x"
        );
    }
}
