//! What `connect_pool` promises about a SQLite file (F8 of mfa-server's
//! security review): a database it creates, and the WAL and SHM files
//! SQLite creates beside it, are readable by their owner only; deleted
//! rows are overwritten (`secure_delete`), so a removed secret does not
//! stay in the file's free pages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::std_instead_of_core,
    clippy::std_instead_of_alloc,
    missing_docs
)]

use std::path::PathBuf;

use totp_engine_sqlx::connect_pool;
use totp_engine_sqlx::sqlx;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("totp-sqlx-pool-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_and_its_wal_and_shm_are_private() {
    let urls: [fn(&std::path::Path) -> String; 3] = [
        |p| format!("sqlite://{}", p.display()),
        |p| p.display().to_string(),
        |p| format!("sqlite://{}?mode=rwc", p.display()),
    ];
    for url_of in urls {
        let dir = temp_dir("modes");
        let db = dir.join("new.db");
        let (pool, _) = connect_pool(&url_of(&db)).await.unwrap();
        sqlx::query("CREATE TABLE t (v BLOB)")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (x'00')")
            .execute(&pool)
            .await
            .unwrap();
        for suffix in ["", "-wal", "-shm"] {
            let path = PathBuf::from(format!("{}{suffix}", db.display()));
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        pool.close().await;
    }
}

#[cfg(unix)]
#[tokio::test]
async fn an_existing_database_keeps_its_mode() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir("existing");
    let db = dir.join("old.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (pool, _) = connect_pool(&db.display().to_string()).await.unwrap();
    sqlx::query("CREATE TABLE t (v BLOB)")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(mode(&db), 0o640);
    assert_eq!(mode(&dir.join("old.db-wal")), 0o640);
    pool.close().await;
}

#[tokio::test]
async fn deleted_rows_are_overwritten() {
    let dir = temp_dir("delete");
    let db = dir.join("d.db");
    let (pool, _) = connect_pool(&db.display().to_string()).await.unwrap();
    let on: i64 = sqlx::query_scalar("PRAGMA secure_delete")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(on, 1);
    let marker = b"SECRET-MARKER-0123456789-".repeat(40);
    sqlx::query("CREATE TABLE t (id BIGINT, v BLOB)")
        .execute(&pool)
        .await
        .unwrap();
    for id in 0..3_i64 {
        sqlx::query("INSERT INTO t VALUES ($1, $2)")
            .bind(id)
            .bind(if id == 1 {
                marker.clone()
            } else {
                vec![7u8; 1000]
            })
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    let contains = |bytes: &[u8]| bytes.windows(marker.len()).any(|w| w == marker.as_slice());
    assert!(
        contains(&std::fs::read(&db).unwrap()),
        "the marker was written"
    );
    sqlx::query("DELETE FROM t WHERE id = 1")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .unwrap();
    for suffix in ["", "-wal"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        let bytes = std::fs::read(&path).unwrap_or_default();
        assert!(
            !contains(&bytes),
            "{} still holds the deleted row",
            path.display()
        );
    }
    pool.close().await;
}
