//! Fault injection for the JavaScript test suite, through the engine's storage seam.
//!
//! When `SIMD_R_DRIVE_TEST_FAULT` is set while a writable store is opened (JavaScript reads
//! it when `open` is called and passes it along, so an open that completes later on the
//! threadpool sees the value of its own call), the store's
//! file-system calls go through [`simd_r_drive::io::FailAfter`]: `<call>:<n>:<errno>` lets
//! `n` calls of that kind succeed and fails every later one, e.g. `write:3:ENOSPC` (a full
//! disk: the failing write puts half of its bytes on disk first), `sync:0:EIO`,
//! `rename:0:EIO`; `<call>:<n>:<errno>:<k>` fails only `k` calls, then lets every later one
//! through (a disk on which space was freed), e.g. `write:3:ENOSPC:1`. `gate:<file>` instead holds the open (writable or read-only), outside
//! every lock of the registry, until `<file>` exists (at most 10 s), then creates
//! `<file>.passed` and opens: tests use it to keep an open in progress while they check
//! what else can run meanwhile. For tests only; never set it in production.

use std::sync::Arc;

use simd_r_drive::io::{Backend, FailAfter, Fault, IoOp, OsBackend};

use crate::errors::coded;

/// If the `SIMD_R_DRIVE_TEST_FAULT` value is `gate:<file>`, waits until `<file>` exists
/// (at most 10 s), then creates `<file>.passed`.
pub fn gate(spec: Option<&str>) {
    let Some(file) = spec.and_then(|s| s.strip_prefix("gate:")) else {
        return;
    };
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !std::path::Path::new(file).exists() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = std::fs::write(format!("{file}.passed"), b"");
}

/// The backend that a `SIMD_R_DRIVE_TEST_FAULT` value asks for, if any (none for a gate).
pub fn from_spec(spec: Option<&str>) -> napi::Result<Option<Arc<dyn Backend>>> {
    let Some(spec) = spec.filter(|s| !s.is_empty() && !s.starts_with("gate:")) else {
        return Ok(None);
    };
    let bad = || {
        coded(
            "ERR_INVALID_ENV",
            &format!(
                "SIMD_R_DRIVE_TEST_FAULT must look like write:3:ENOSPC or write:3:ENOSPC:1, got \
                 {spec:?}"
            ),
        )
    };
    let mut parts = spec.split(':');
    let (Some(call), Some(n), Some(errno), times, None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(bad());
    };
    let op = match call {
        "write" => IoOp::Write,
        "sync" => IoOp::Sync,
        "rename" => IoOp::Rename,
        "syncdir" => IoOp::SyncDir,
        "setlen" => IoOp::SetLen,
        _ => return Err(bad()),
    };
    let n: u64 = n.parse().map_err(|_| bad())?;
    let errno = match errno {
        "ENOSPC" => libc::ENOSPC,
        "EIO" => libc::EIO,
        "EDQUOT" => libc::EDQUOT,
        _ => return Err(bad()),
    };
    let fault = if op == IoOp::Write && errno == libc::ENOSPC {
        Fault::PartialWrite(errno)
    } else {
        Fault::Errno(errno)
    };
    let mut backend = FailAfter::new(Arc::new(OsBackend), &[op], n, fault);
    if let Some(times) = times {
        backend = backend.times(times.parse().map_err(|_| bad())?);
    }
    Ok(Some(Arc::new(backend)))
}
