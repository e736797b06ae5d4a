//! The exit category of every error: what kind of failure ended a command, and the process exit
//! code and `--json` name each kind has. One table, the same for every command, documented in
//! the README ("Exit codes").
//!
//! Errors say which category they are in (`RegistryError::category`, `StoreError::category`,
//! …); `commands::category_of` finds the first error in a chain that says, and `main` exits
//! with its code. Which HTTP statuses and envelope codes mean which category is `envelope`'s
//! knowledge ([`Category::from_status`], [`Category::from_code`]).

/// What kind of failure something is. Each kind has its own exit code, the same for every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Anything not covered below (exit 1).
    Other,
    /// Bad arguments, reference or digest (exit 2).
    Usage,
    /// 404, `BLOB_UNKNOWN`, `NAME_UNKNOWN`, `MANIFEST_UNKNOWN` (exit 3).
    NotFound,
    /// 401/403, `UNAUTHORIZED`, `DENIED` (exit 4).
    Auth,
    /// Digest or size mismatch (exit 5).
    Integrity,
    /// Connection errors and 5xx (exit 6).
    Network,
    /// 429 and `TOOMANYREQUESTS` (exit 7).
    RateLimited,
    /// Disk full, permissions and other local file system failures (exit 8).
    Storage,
}

impl Category {
    /// The process exit code for this category.
    pub fn exit_code(self) -> i32 {
        match self {
            Category::Other => 1,
            Category::Usage => 2,
            Category::NotFound => 3,
            Category::Auth => 4,
            Category::Integrity => 5,
            Category::Network => 6,
            Category::RateLimited => 7,
            Category::Storage => 8,
        }
    }

    /// The snake_case name used in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Other => "other",
            Category::Usage => "usage",
            Category::NotFound => "not_found",
            Category::Auth => "auth",
            Category::Integrity => "integrity",
            Category::Network => "network",
            Category::RateLimited => "rate_limited",
            Category::Storage => "storage",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_are_distinct_and_stable() {
        let table = [
            (Category::Other, 1, "other"),
            (Category::Usage, 2, "usage"),
            (Category::NotFound, 3, "not_found"),
            (Category::Auth, 4, "auth"),
            (Category::Integrity, 5, "integrity"),
            (Category::Network, 6, "network"),
            (Category::RateLimited, 7, "rate_limited"),
            (Category::Storage, 8, "storage"),
        ];
        for (category, code, name) in table {
            assert_eq!(category.exit_code(), code, "{category:?}");
            assert_eq!(category.as_str(), name, "{category:?}");
            // `--json` writes the same name serde does.
            assert_eq!(serde_json::to_value(category).unwrap(), name);
        }
    }
}
