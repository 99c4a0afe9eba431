use std::sync::atomic::Ordering;

use super::*;
use crate::trace::decode::{Decoded, Field, FieldName, Shown, Value};
use crate::trace::Record;

fn temp_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("mqshim-tracebuf-{}-{}", std::process::id(), crate::os::ids::tid()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir(&d).unwrap();
    d
}

fn record(payload: &[u8], n: i64) -> (Vec<u8>, usize) {
    let fields = [
        Field { name: FieldName::Mqdes, value: Value::Int(n) },
        Field { name: FieldName::MsgPtr, value: Value::Payload(Shown { bytes: payload, complete: true }) },
    ];
    let r = Record {
        wall: libc::timespec { tv_sec: 1_700_000_000, tv_nsec: n },
        pid: 42,
        tid: 43,
        call: "mq_send",
        backend: "emulate",
        args: Decoded::from_fields(fields),
        outcome: Ok(0),
        dur_ns: 7,
        injected: false,
        delayed: true,
        queue: Some(b"/q"),
    };
    let mut buf = vec![0u8; 4096];
    let len = wire::encode(Kind::Call, &r, n as u64, &mut buf);
    (buf, len)
}

fn only_buffer(dir: &std::path::Path) -> Mapped {
    let entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    open(&entries[0]).unwrap()
}

#[test]
fn records_round_trip_through_a_buffer_and_wrap_around() {
    let dir = temp_dir();
    let w = Writer::new(dir.to_str().unwrap().as_bytes().to_vec(), 4096);
    let reader_side = {
        let (buf, len) = record(b"first", 0);
        w.append(&buf[..len], 42);
        only_buffer(&dir)
    };
    let mut out = Vec::new();
    assert_eq!(reader_side.drain(&mut out, false), 0);
    assert_eq!(out.len(), 1);
    // Many laps of a small ring: every record comes back whole and in order, padding skipped.
    for i in 1..200 {
        let payload = vec![b'a' + (i % 26) as u8; (i as usize * 7) % 300];
        let (buf, len) = record(&payload, i);
        w.append(&buf[..len], 42);
        reader_side.drain(&mut out, false);
        let got = out.last().unwrap();
        assert_eq!(got.head.seq, i as u64);
        let r = got.as_record();
        assert_eq!(r.queue, Some(&b"/q"[..]));
        assert!(r.delayed && !r.injected);
        let f: Vec<_> = r.args.fields().collect();
        match f[1].value {
            Value::Payload(s) => assert_eq!(s.bytes, &payload[..]),
            ref v => panic!("{v:?}"),
        }
    }
    assert_eq!(out.len(), 200);
    assert_eq!(reader_side.header().lost.load(Ordering::Relaxed), 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_full_buffer_drops_and_counts_never_blocks() {
    let dir = temp_dir();
    let w = Writer::new(dir.to_str().unwrap().as_bytes().to_vec(), 4096);
    let (buf, len) = record(&[b'x'; 200], 1);
    for _ in 0..100 {
        w.append(&buf[..len], 42);
    }
    let m = only_buffer(&dir);
    let mut out = Vec::new();
    m.drain(&mut out, false);
    let lost = m.header().lost.load(Ordering::Relaxed);
    assert!(!out.is_empty() && lost > 0);
    assert_eq!(out.len() as u64 + lost, 100, "every record is either delivered or counted lost");
    // Space freed by the drain is used again.
    w.append(&buf[..len], 42);
    m.drain(&mut out, false);
    assert_eq!(out.len() as u64 + lost, 101);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_record_its_writer_never_published_ends_the_buffer_once_the_writer_is_gone() {
    let dir = temp_dir();
    let w = Writer::new(dir.to_str().unwrap().as_bytes().to_vec(), 4096);
    let (buf, len) = record(b"kept", 1);
    w.append(&buf[..len], 42);
    let m = only_buffer(&dir);
    // A writer that reserved space and died before publishing its length word.
    m.header().write.fetch_add(64, Ordering::Relaxed);
    let mut out = Vec::new();
    m.drain(&mut out, false);
    assert_eq!(out.len(), 1);
    assert_eq!(m.header().read.load(Ordering::Relaxed) + 64, m.header().write.load(Ordering::Relaxed), "waits while the writer may still publish");
    assert_eq!(m.drain(&mut out, true), 1, "counted as one bad record");
    assert_eq!(m.header().read.load(Ordering::Relaxed), m.header().write.load(Ordering::Relaxed));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_forked_child_gets_its_own_buffer() {
    let dir = temp_dir();
    let w = Writer::new(dir.to_str().unwrap().as_bytes().to_vec(), 4096);
    let (buf, len) = record(b"p", 1);
    w.append(&buf[..len], 42);
    w.append(&buf[..len], 4242);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}
