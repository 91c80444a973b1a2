//! The staging format in which JavaScript hands a batch of writes to the native layer.
//!
//! JavaScript copies each key and value into one staging buffer when `put`/`delete` is
//! called (so later changes to the caller's buffers cannot alter the write), and passes the
//! whole buffer across the boundary once per batch. Per operation:
//!
//! ```text
//! kind:u8 (1 put, 2 delete, 3 put with expiry)  cond:u8  key_len:u16le  value_len:u32le
//!     key  value  [expires_at:u64le, kind 3 only]  [condition]
//! ```
//!
//! `cond` is 0 for an unconditional operation; otherwise the operation is written only if
//! its condition holds (see `simd_r_drive::Condition`): 1 = the key has no value; 2 = its
//! value is the bytes that follow (`expected_len:u32le expected`); 3 = its version is the
//! `version:u64le` that follows.

use simd_r_drive::{Condition, Op};

use crate::errors::coded;

/// `kind` of a staged Put (`OP_PUT` in `lib/scratch.js`).
pub const OP_PUT: u8 = 1;
/// `kind` of a staged Delete (`OP_DELETE` in `lib/scratch.js`).
pub const OP_DELETE: u8 = 2;
/// `kind` of a staged Put with an expiry (`OP_PUT_EXPIRING` in `lib/scratch.js`): the
/// value is followed by the expiry time, a u64 of ms since the Unix epoch.
pub const OP_PUT_EXPIRING: u8 = 3;

/// Length of the fixed part of one staged operation.
pub const OP_HEADER_LEN: usize = 8;

/// `cond` of an operation written only if its key has no value (`COND_ABSENT` in
/// `lib/scratch.js`).
pub const COND_ABSENT: u8 = 1;
/// `cond` of an operation written only if its key's value is the bytes that follow.
pub const COND_VALUE: u8 = 2;
/// `cond` of an operation written only if its key's version is the u64 that follows.
pub const COND_VERSION: u8 = 3;

/// Staged operations, and their conditions if any has one.
pub struct Staged<'a> {
    pub ops: Vec<Op<'a>>,
    /// One per operation, when at least one operation has a condition.
    pub conds: Option<Vec<Option<Condition<'a>>>>,
}

/// Parses `count` staged operations without conditions from `bytes`.
pub fn parse(bytes: &[u8], count: u32) -> napi::Result<Vec<Op<'_>>> {
    let staged = parse_staged(bytes, Some(count))?;
    if staged.conds.is_some() {
        return Err(bad_staging());
    }
    Ok(staged.ops)
}

fn bad_staging() -> napi::Error {
    coded(
        "ERR_INTERNAL",
        "malformed staging buffer (a bug in simd-r-drive)",
    )
}

/// Parses `count` staged operations (all of `bytes` when `None`), with their conditions.
pub fn parse_staged(bytes: &[u8], count: Option<u32>) -> napi::Result<Staged<'_>> {
    let bad = bad_staging;
    let mut ops = Vec::with_capacity(count.unwrap_or(4) as usize);
    let mut conds: Option<Vec<Option<Condition<'_>>>> = None;
    let mut at = 0usize;
    while count.map_or(at < bytes.len(), |c| ops.len() < c as usize) {
        let head = bytes.get(at..at + OP_HEADER_LEN).ok_or_else(bad)?;
        let key_len = u16::from_le_bytes([head[2], head[3]]) as usize;
        let value_len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let key_start = at + OP_HEADER_LEN;
        let value_start = key_start + key_len;
        let mut end = value_start.checked_add(value_len).ok_or_else(bad)?;
        let key = bytes.get(key_start..value_start).ok_or_else(bad)?;
        let value = bytes.get(value_start..end).ok_or_else(bad)?;
        let expires_at = if head[0] == OP_PUT_EXPIRING {
            let t = bytes.get(end..end + 8).ok_or_else(bad)?;
            end += 8;
            Some(u64::from_le_bytes(t.try_into().expect("8 bytes")))
        } else {
            None
        };
        let cond = match head[1] {
            0 => None,
            COND_ABSENT => Some(Condition::Absent),
            COND_VALUE => {
                let len = bytes.get(end..end + 4).ok_or_else(bad)?;
                let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
                let start = end + 4;
                end = start.checked_add(len).ok_or_else(bad)?;
                Some(Condition::Value(bytes.get(start..end).ok_or_else(bad)?))
            }
            COND_VERSION => {
                let v = bytes.get(end..end + 8).ok_or_else(bad)?;
                end += 8;
                Some(Condition::Version(u64::from_le_bytes(
                    v.try_into().expect("8 bytes"),
                )))
            }
            _ => return Err(bad()),
        };
        ops.push(match head[0] {
            OP_PUT => Op::Put { key, value },
            OP_PUT_EXPIRING => Op::PutExpiring {
                key,
                value,
                expires_at: expires_at.expect("read above"),
            },
            OP_DELETE if value_len == 0 => Op::Delete { key },
            _ => return Err(bad()),
        });
        if cond.is_some() && conds.is_none() {
            conds = Some(vec![None; ops.len() - 1]);
        }
        if let Some(c) = conds.as_mut() {
            c.push(cond);
        }
        at = end;
    }
    if at != bytes.len() {
        return Err(bad());
    }
    Ok(Staged { ops, conds })
}
