//! How the records' own types are stored: a call id as its text, a status
//! or an event kind as its name. A stored value that is none of these is an
//! error that says which value, never a default.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::call::{name, named, EventKind, Status};
use crate::call_id::CallId;

impl ToSql for CallId {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

impl FromSql for CallId {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<CallId> {
        let text = value.as_str()?;
        text.parse()
            .map_err(|e| FromSqlError::Other(format!("a stored call id is unreadable: {e}").into()))
    }
}

/// Stores an enum as the name serde gives it.
macro_rules! by_name {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(name(self)))
            }
        }

        impl FromSql for $t {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<$t> {
                let text = value.as_str()?;
                named(text).map_err(|e| {
                    FromSqlError::Other(format!("a stored {} is unreadable: {e}", stringify!($t)).into())
                })
            }
        }
    )*};
}

by_name!(Status, EventKind);

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn values_are_stored_as_text_and_a_bad_one_says_so() {
        let conn = Connection::open_in_memory().expect("db");
        let id = CallId::new();
        let back: (String, CallId, String, Status) = conn
            .query_row(
                "SELECT ?1, ?1, ?2, ?2",
                rusqlite::params![id, Status::Running],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("row");
        assert_eq!(
            back,
            (id.to_string(), id, "RUNNING".into(), Status::Running)
        );
        let bad = conn
            .query_row("SELECT 'not-a-uuid'", [], |r| r.get::<_, CallId>(0))
            .expect_err("no id");
        assert!(
            bad.to_string()
                .contains("a stored call id is unreadable: \"not-a-uuid\""),
            "{bad}"
        );
        let bad = conn
            .query_row("SELECT 'DONE'", [], |r| r.get::<_, EventKind>(0))
            .expect_err("no kind");
        assert!(
            bad.to_string().contains("a stored EventKind is unreadable"),
            "{bad}"
        );
    }
}
