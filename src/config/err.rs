//! Configuration problems: every one is collected, none stops the check early.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a configuration, by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key, e.g. `tenants[acme].customer`.
    pub path: String,
    pub message: String,
    /// What to do about it.
    pub help: Option<String>,
}

/// The accumulator the validators push onto.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl Problems {
    pub fn push(&mut self, path: &str, message: impl Into<String>) {
        self.0.push(Problem { path: path.to_owned(), message: message.into(), help: None });
    }

    pub fn push_help(&mut self, path: &str, message: impl Into<String>, help: impl Into<String>) {
        self.0.push(Problem { path: path.to_owned(), message: message.into(), help: Some(help.into()) });
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A configuration that was refused, with every problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl ConfigError {
    pub fn new(file: &Path, problems: Problems) -> Self {
        ConfigError { file: file.to_owned(), problems: problems.0 }
    }
}

impl fmt::Display for ConfigError {
    /// One `file: key: message` line per problem, its help indented below.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.display();
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            if problem.path.is_empty() {
                write!(f, "{file}: {}", problem.message)?;
            } else {
                write!(f, "{file}: {}: {}", problem.path, problem.message)?;
            }
            if let Some(help) = &problem.help {
                write!(f, "\n  help: {help}")?;
            }
        }
        Ok(())
    }
}
