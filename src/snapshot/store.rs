//! A loaded snapshot's services, kept compact: strings are byte ranges of the snapshot's own
//! text (or, for the few strings written with escapes, of a side buffer), and names are found
//! through a case-insensitive hash table that stores no keys of its own. Loading a host then
//! allocates a handful of buffers rather than a string per field.
//!
//! [`parse`] reads a snapshot straight into this form in one pass. It accepts exactly what the
//! derived `Deserialize` of [`Snapshot`] accepts, or fails; on failure the caller parses again
//! with the derived implementation, whose errors are the ones users see.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::model::{FORMAT_V1, Host, Service, ServiceState, Snapshot, StartType};

/// A string of the snapshot: a byte range of its text, or of the side buffer.
#[derive(Debug, Clone, Copy)]
struct Piece {
    start: u32,
    len: u32,
    in_text: bool,
}

#[derive(Debug, Clone, Copy)]
struct Record {
    name: Piece,
    display_name: Option<Piece>,
    account: Option<Piece>,
    state: Option<ServiceState>,
    start_type: Option<StartType>,
    /// A range of `Store::deps`.
    depends_on: Option<(u32, u32)>,
}

/// The services of one snapshot and the strings they point into.
#[derive(Debug)]
pub(crate) struct Store {
    text: Arc<str>,
    extra: String,
    records: Vec<Record>,
    deps: Vec<Piece>,
}

impl Store {
    #[inline]
    fn str(&self, p: Piece) -> &str {
        let all: &str = if p.in_text { &self.text } else { &self.extra };
        all.get(p.start as usize..p.start as usize + p.len as usize)
            .unwrap_or("")
    }

    /// Copies the services of a snapshot that was parsed into the owned model.
    fn from_owned(text: Arc<str>, services: &[Service]) -> Store {
        let mut b = Builder::new("");
        for s in services {
            let name = b.owned(&s.name);
            let display_name = s.display_name.as_deref().map(|d| b.owned(d));
            let account = s.account.as_deref().map(|a| b.owned(a));
            let depends_on = s.depends_on.as_ref().map(|deps| {
                let start = b.deps.len();
                for d in deps {
                    let p = b.owned(d);
                    b.deps.push(p);
                }
                b.dep_range(start)
            });
            b.records.push(Record {
                name,
                display_name,
                account,
                state: s.state,
                start_type: s.start_type,
                depends_on,
            });
        }
        b.finish(text)
    }
}

/// One service record of a loaded snapshot.
#[derive(Clone, Copy)]
pub struct ServiceRef<'s> {
    store: &'s Store,
    record: &'s Record,
}

impl<'s> ServiceRef<'s> {
    #[inline]
    pub fn name(&self) -> &'s str {
        self.store.str(self.record.name)
    }

    #[inline]
    pub fn display_name(&self) -> Option<&'s str> {
        self.record.display_name.map(|p| self.store.str(p))
    }

    #[inline]
    pub fn state(&self) -> Option<ServiceState> {
        self.record.state
    }

    #[inline]
    pub fn start_type(&self) -> Option<StartType> {
        self.record.start_type
    }

    #[inline]
    pub fn account(&self) -> Option<&'s str> {
        self.record.account.map(|p| self.store.str(p))
    }

    /// The names it depends on directly; `None` when the snapshot does not say.
    pub fn depends_on(&self) -> Option<Deps<'s>> {
        let (start, len) = self.record.depends_on?;
        let pieces = self
            .store
            .deps
            .get(start as usize..start as usize + len as usize)
            .unwrap_or(&[]);
        Some(Deps {
            store: self.store,
            pieces: pieces.iter(),
        })
    }

    /// The record in the owned model.
    pub fn to_service(&self) -> Service {
        Service {
            name: self.name().to_string(),
            display_name: self.display_name().map(str::to_string),
            state: self.state(),
            start_type: self.start_type(),
            account: self.account().map(str::to_string),
            depends_on: self
                .depends_on()
                .map(|deps| deps.map(str::to_string).collect()),
        }
    }
}

impl fmt::Debug for ServiceRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_service().fmt(f)
    }
}

/// A service's direct dependencies, by name as written.
#[derive(Clone)]
pub struct Deps<'s> {
    store: &'s Store,
    pieces: std::slice::Iter<'s, Piece>,
}

impl<'s> Iterator for Deps<'s> {
    type Item = &'s str;

    fn next(&mut self) -> Option<&'s str> {
        self.pieces.next().map(|p| self.store.str(*p))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.pieces.size_hint()
    }
}

impl ExactSizeIterator for Deps<'_> {}

/// Services by SCM name, compared case-insensitively (ASCII), as Windows compares them.
pub struct ServiceIndex {
    store: Arc<Store>,
    hasher: foldhash::fast::RandomState,
    /// Open addressing: a service's index plus one, or 0 for an empty slot.
    table: Box<[u32]>,
    /// The services whose names are not all ASCII, in order, found when first asked for (a
    /// fleet's hosts are mostly never asked).
    not_ascii: OnceLock<Vec<u32>>,
}

impl fmt::Debug for ServiceIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Default for ServiceIndex {
    fn default() -> Self {
        ServiceIndex {
            store: Arc::new(Store {
                text: Arc::from(""),
                extra: String::new(),
                records: Vec::new(),
                deps: Vec::new(),
            }),
            hasher: foldhash::fast::RandomState::default(),
            table: Box::new([0; 4]),
            not_ascii: OnceLock::new(),
        }
    }
}

/// The hash of a name's ASCII-lower-case form, computed sixteen bytes at a time without making
/// a copy of it.
#[inline(always)]
fn fold_hash(hasher: &foldhash::fast::RandomState, name: &str) -> u64 {
    let mut h = hasher.build_hasher();
    let mut words = name.as_bytes().chunks_exact(16);
    for word in &mut words {
        h.write_u128(ascii_lowercase(word_of(word)));
    }
    h.write_u128(ascii_lowercase(tail(words.remainder())));
    h.write_usize(name.len());
    h.finish()
}

/// `a.eq_ignore_ascii_case(b)`, sixteen bytes at a time.
fn same_folded(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut xs, mut ys) = (a.as_bytes().chunks_exact(16), b.as_bytes().chunks_exact(16));
    for (x, y) in (&mut xs).zip(&mut ys) {
        if ascii_lowercase(word_of(x)) != ascii_lowercase(word_of(y)) {
            return false;
        }
    }
    ascii_lowercase(tail(xs.remainder())) == ascii_lowercase(tail(ys.remainder()))
}

/// Sixteen bytes as one word, each byte in a lane of its own (so that [`ascii_lowercase`]
/// applies).
#[inline]
pub(crate) fn word_of(chunk: &[u8]) -> u128 {
    let mut word = [0u8; 16];
    word.copy_from_slice(chunk);
    u128::from_le_bytes(word)
}

/// Fewer than sixteen bytes in one word, each byte in a lane of its own, without copying them
/// out one by one: two loads that together cover every byte (overlapping when there are fewer
/// than twice their width), or for one to three bytes the first, middle and last. Two byte
/// strings of the same length give the same word only when they are equal, which is all
/// hashing and comparing need.
#[inline]
fn tail(rest: &[u8]) -> u128 {
    if let (Some(head), Some(last)) = (rest.first_chunk::<8>(), rest.last_chunk::<8>()) {
        return u128::from(u64::from_le_bytes(*head)) | u128::from(u64::from_le_bytes(*last)) << 64;
    }
    if let (Some(head), Some(last)) = (rest.first_chunk::<4>(), rest.last_chunk::<4>()) {
        return u128::from(u32::from_le_bytes(*head)) | u128::from(u32::from_le_bytes(*last)) << 32;
    }
    // One to three bytes: the first, the middle and the last cover them all.
    match (rest.first(), rest.get(rest.len() / 2), rest.last()) {
        (Some(&first), Some(&middle), Some(&last)) => {
            u128::from(first) | u128::from(middle) << 8 | u128::from(last) << 16
        }
        _ => 0,
    }
}

/// `to_ascii_lowercase` of sixteen bytes at once: each byte from `A` to `Z` gains 0x20, the rest
/// (other ASCII, and the bytes of characters that are not ASCII) stay as they are.
pub(crate) fn ascii_lowercase(bytes: u128) -> u128 {
    bytes | ascii_letters::<b'A'>(bytes)
}

/// `to_ascii_uppercase` of sixteen bytes at once, as [`ascii_lowercase`] lowers them.
pub(crate) fn ascii_uppercase(bytes: u128) -> u128 {
    bytes & !ascii_letters::<b'a'>(bytes)
}

/// 0x20 in each byte that is a letter from `FIRST` (`A` or `a`) to 25 letters on, 0 elsewhere.
/// (`FIRST` is a constant so that the sums below are too.)
#[inline]
fn ascii_letters<const FIRST: u8>(bytes: u128) -> u128 {
    const EACH: u128 = u128::MAX / 0xff;
    let low_seven = bytes & (EACH * 0x7f);
    // Bit 7 of each byte, after adding: set from the first letter up, and from one past the
    // last up. No byte carries into the next, as none exceeds 0x7f + 0x3f.
    let from_first = low_seven + EACH * u128::from(0x80 - FIRST);
    let past_last = low_seven + EACH * u128::from(0x80 - FIRST - 26);
    let letters = from_first & !past_last & !bytes & (EACH * 0x80);
    letters >> 2
}

impl ServiceIndex {
    /// Indexes the store's services; `Err((first, later))` for two names that differ only in
    /// case.
    fn build(store: Arc<Store>) -> Result<ServiceIndex, (u32, u32)> {
        let n = store.records.len();
        let size = (n.max(4) * 2).next_power_of_two();
        let mut table = vec![0u32; size].into_boxed_slice();
        let hasher = foldhash::fast::RandomState::default();
        let mask = size - 1;
        for (i, record) in store.records.iter().enumerate() {
            let name = store.str(record.name);
            let mut slot = fold_hash(&hasher, name) as usize & mask;
            loop {
                match table[slot] {
                    0 => {
                        table[slot] = u32::try_from(i + 1).unwrap_or(u32::MAX);
                        break;
                    }
                    other => {
                        let first = other - 1;
                        let there = store.str(store.records[first as usize].name);
                        if there.eq_ignore_ascii_case(name) {
                            return Err((first, u32::try_from(i).unwrap_or(u32::MAX)));
                        }
                        slot = (slot + 1) & mask;
                    }
                }
            }
        }
        Ok(ServiceIndex {
            store,
            hasher,
            table,
            not_ascii: OnceLock::new(),
        })
    }

    /// The services whose names are not all ASCII: the index finds names without regard to
    /// ASCII case only, so what Unicode's `lower`/`upper` make of these must be asked of each.
    pub fn names_not_ascii(&self) -> &[u32] {
        self.not_ascii.get_or_init(|| {
            self.iter()
                .enumerate()
                .filter(|(_, service)| !service.name().is_ascii())
                .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
                .collect()
        })
    }

    /// The index of the service with this SCM name, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<u32> {
        let mask = self.table.len() - 1;
        let mut slot = fold_hash(&self.hasher, name) as usize & mask;
        loop {
            match self.table[slot] {
                0 => return None,
                other => {
                    let i = other - 1;
                    if same_folded(self.store.str(self.store.records[i as usize].name), name) {
                        return Some(i);
                    }
                    slot = (slot + 1) & mask;
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.store.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.records.is_empty()
    }

    /// The service at an index from [`ServiceIndex::get`] (or below [`ServiceIndex::len`]).
    #[inline]
    pub fn service(&self, index: u32) -> ServiceRef<'_> {
        ServiceRef {
            store: &self.store,
            record: &self.store.records[index as usize],
        }
    }

    /// Every service, in snapshot order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = ServiceRef<'_>> + '_ {
        self.store.records.iter().map(|record| ServiceRef {
            store: &self.store,
            record,
        })
    }
}

/// The services as the owned model has them (`Vec<Service>`), built on first use: evaluation
/// reads [`ServiceIndex`] instead, so a fleet never builds it.
pub struct ServiceList {
    store: Arc<Store>,
    owned: OnceLock<Vec<Service>>,
}

impl fmt::Debug for ServiceList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.deref().fmt(f)
    }
}

impl Deref for ServiceList {
    type Target = [Service];

    fn deref(&self) -> &[Service] {
        self.owned.get_or_init(|| {
            self.store
                .records
                .iter()
                .map(|record| {
                    ServiceRef {
                        store: &self.store,
                        record,
                    }
                    .to_service()
                })
                .collect()
        })
    }
}

impl<'l> IntoIterator for &'l ServiceList {
    type Item = &'l Service;
    type IntoIter = std::slice::Iter<'l, Service>;

    fn into_iter(self) -> Self::IntoIter {
        self.deref().iter()
    }
}

/// A loaded snapshot's content. Host and facts are as in [`Snapshot`]; `services` derefs to
/// the owned records, built only when something asks for them.
#[derive(Debug)]
pub struct SnapshotData {
    pub host: Host,
    pub collected_at: Option<String>,
    pub services: ServiceList,
    pub facts: serde_json::Value,
}

/// Parsed and indexed, or the index of two services whose names differ only in case.
pub(crate) type Parsed = (SnapshotData, ServiceIndex);

/// Builds the compact form from a snapshot parsed into the owned model.
pub(crate) fn from_owned(text: Arc<str>, snapshot: Snapshot) -> Result<Parsed, (u32, u32)> {
    let store = Arc::new(Store::from_owned(text, &snapshot.services));
    let index = ServiceIndex::build(Arc::clone(&store))?;
    let services = ServiceList {
        store,
        owned: OnceLock::from(snapshot.services),
    };
    Ok((
        SnapshotData {
            host: snapshot.host,
            collected_at: snapshot.collected_at,
            services,
            facts: snapshot.facts,
        },
        index,
    ))
}

/// Why the one-pass parse gave up; the caller parses again to say why, in the user's terms.
#[derive(Debug)]
pub(crate) enum FastError {
    /// Not a snapshot this pass accepts (malformed, wrong shape, unknown format…).
    Refused,
    /// Two services whose names differ only in case.
    Duplicate,
}

/// Reads a snapshot in one pass, borrowing strings from `text`.
pub(crate) fn parse(text: &Arc<str>) -> Result<Parsed, FastError> {
    let mut builder = Builder::new(text);
    let mut de = serde_json::Deserializer::from_str(text);
    let top = TopSeed {
        builder: &mut builder,
    }
    .deserialize(&mut de)
    .map_err(|_| FastError::Refused)?;
    de.end().map_err(|_| FastError::Refused)?;
    let store = Arc::new(builder.finish(Arc::clone(text)));
    let index = ServiceIndex::build(Arc::clone(&store)).map_err(|_| FastError::Duplicate)?;
    Ok((
        SnapshotData {
            host: top.host,
            collected_at: top.collected_at,
            services: ServiceList {
                store,
                owned: OnceLock::new(),
            },
            facts: top.facts,
        },
        index,
    ))
}

struct Builder<'t> {
    text: &'t str,
    extra: String,
    records: Vec<Record>,
    deps: Vec<Piece>,
}

impl<'t> Builder<'t> {
    fn new(text: &'t str) -> Builder<'t> {
        Builder {
            text,
            extra: String::new(),
            records: Vec::new(),
            deps: Vec::new(),
        }
    }

    /// A string the parser lent from the text.
    fn borrowed(&mut self, s: &str) -> Piece {
        let at = (s.as_ptr() as usize).wrapping_sub(self.text.as_ptr() as usize);
        let text_len = self.text.len();
        match (u32::try_from(at), u32::try_from(s.len())) {
            (Ok(start), Ok(len)) if at <= text_len && s.len() <= text_len - at => Piece {
                start,
                len,
                in_text: true,
            },
            _ => self.owned(s),
        }
    }

    /// A string that is not in the text as written (it had escapes).
    fn owned(&mut self, s: &str) -> Piece {
        let start = u32::try_from(self.extra.len()).unwrap_or(u32::MAX);
        self.extra.push_str(s);
        Piece {
            start,
            len: u32::try_from(s.len()).unwrap_or(0),
            in_text: false,
        }
    }

    fn get(&self, p: Piece) -> &str {
        let all: &str = if p.in_text { self.text } else { &self.extra };
        all.get(p.start as usize..p.start as usize + p.len as usize)
            .unwrap_or("")
    }

    fn dep_range(&self, start: usize) -> (u32, u32) {
        let len = self.deps.len() - start;
        (
            u32::try_from(start).unwrap_or(u32::MAX),
            u32::try_from(len).unwrap_or(0),
        )
    }

    fn finish(self, text: Arc<str>) -> Store {
        Store {
            text,
            extra: self.extra,
            records: self.records,
            deps: self.deps,
        }
    }
}

// ---------------------------------------------------------------- the one-pass parser

struct Top {
    host: Host,
    collected_at: Option<String>,
    facts: serde_json::Value,
}

struct TopSeed<'b, 't> {
    builder: &'b mut Builder<'t>,
}

impl<'de> DeserializeSeed<'de> for TopSeed<'_, '_> {
    type Value = Top;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Top, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TopSeed<'_, '_> {
    type Value = Top;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Snapshot")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top, A::Error> {
        let mut format = false;
        let mut host = None;
        let mut collected_at = None;
        let mut services = false;
        let mut facts = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key.as_ref() {
                "format" => {
                    let piece = map.next_value_seed(PieceSeed {
                        builder: &mut *self.builder,
                    })?;
                    let ok = self.builder.get(piece) == FORMAT_V1;
                    if format || !ok {
                        return Err(de::Error::custom("format"));
                    }
                    format = true;
                }
                "host" => {
                    if host.is_some() {
                        return Err(de::Error::duplicate_field("host"));
                    }
                    host = Some(map.next_value::<Host>()?);
                }
                "collected_at" => {
                    if collected_at.is_some() {
                        return Err(de::Error::duplicate_field("collected_at"));
                    }
                    collected_at = Some(map.next_value::<Option<String>>()?);
                }
                "services" => {
                    if services {
                        return Err(de::Error::duplicate_field("services"));
                    }
                    map.next_value_seed(ServicesSeed {
                        builder: &mut *self.builder,
                    })?;
                    services = true;
                }
                "facts" => {
                    if facts.is_some() {
                        return Err(de::Error::duplicate_field("facts"));
                    }
                    facts = Some(map.next_value::<serde_json::Value>()?);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let (true, Some(host), true) = (format, host, services) else {
            return Err(de::Error::missing_field("format, host or services"));
        };
        Ok(Top {
            host,
            collected_at: collected_at.flatten(),
            facts: facts.unwrap_or_else(|| serde_json::Value::Object(serde_json::Map::new())),
        })
    }
}

/// An object key, borrowed when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = std::borrow::Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_identifier(CowStr)
    }
}

struct CowStr;

impl<'de> Visitor<'de> for CowStr {
    type Value = std::borrow::Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
        Ok(std::borrow::Cow::Owned(s.to_string()))
    }
}

struct PieceSeed<'b, 't> {
    builder: &'b mut Builder<'t>,
}

impl<'de> DeserializeSeed<'de> for PieceSeed<'_, '_> {
    type Value = Piece;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Piece, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PieceSeed<'_, '_> {
    type Value = Piece;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<Piece, E> {
        Ok(self.builder.borrowed(s))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Piece, E> {
        Ok(self.builder.owned(s))
    }
}

/// `Option<String>`: `null` is `None`, as serde has it.
struct OptionPieceSeed<'b, 't> {
    builder: &'b mut Builder<'t>,
}

impl<'de> DeserializeSeed<'de> for OptionPieceSeed<'_, '_> {
    type Value = Option<Piece>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Piece>, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptionPieceSeed<'_, '_> {
    type Value = Option<Piece>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("option")
    }

    fn visit_none<E: de::Error>(self) -> Result<Option<Piece>, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Piece>, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Option<Piece>, D::Error> {
        PieceSeed {
            builder: self.builder,
        }
        .deserialize(d)
        .map(Some)
    }
}

/// `Option<Vec<String>>` into `Builder::deps`.
struct DepsSeed<'b, 't> {
    builder: &'b mut Builder<'t>,
}

impl<'de> DeserializeSeed<'de> for DepsSeed<'_, '_> {
    type Value = Option<(u32, u32)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for DepsSeed<'_, '_> {
    type Value = Option<(u32, u32)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("option")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let start = self.builder.deps.len();
        while let Some(p) = seq.next_element_seed(PieceSeed {
            builder: &mut *self.builder,
        })? {
            self.builder.deps.push(p);
        }
        Ok(Some(self.builder.dep_range(start)))
    }
}

struct ServicesSeed<'b, 't> {
    builder: &'b mut Builder<'t>,
}

impl<'de> DeserializeSeed<'de> for ServicesSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ServicesSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a sequence")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some(n) = seq.size_hint() {
            self.builder.records.reserve(n);
        }
        while let Some(record) = seq.next_element_seed(ServiceSeed {
            builder: &mut *self.builder,
        })? {
            self.builder.records.push(record);
        }
        Ok(())
    }
}

struct ServiceSeed<'b, 't> {
    builder: &'b mut Builder<'t>,
}

impl<'de> DeserializeSeed<'de> for ServiceSeed<'_, '_> {
    type Value = Record;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Record, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ServiceSeed<'_, '_> {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("struct Service")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let b = self.builder;
        let mut name = None;
        let mut display_name = None;
        let mut account = None;
        let mut state = None;
        let mut start_type = None;
        let mut depends_on = None;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            match key.as_ref() {
                "name" if name.is_none() => {
                    name = Some(map.next_value_seed(PieceSeed { builder: &mut *b })?);
                }
                "display_name" if display_name.is_none() => {
                    display_name = Some(map.next_value_seed(OptionPieceSeed { builder: &mut *b })?);
                }
                "account" if account.is_none() => {
                    account = Some(map.next_value_seed(OptionPieceSeed { builder: &mut *b })?);
                }
                "state" if state.is_none() => {
                    state = Some(map.next_value::<Option<ServiceState>>()?);
                }
                "start_type" if start_type.is_none() => {
                    start_type = Some(map.next_value::<Option<StartType>>()?);
                }
                "depends_on" if depends_on.is_none() => {
                    depends_on = Some(map.next_value_seed(DepsSeed { builder: &mut *b })?);
                }
                "name" | "display_name" | "account" | "state" | "start_type" | "depends_on" => {
                    return Err(de::Error::custom("duplicate field"));
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let Some(name) = name else {
            return Err(de::Error::missing_field("name"));
        };
        Ok(Record {
            name,
            display_name: display_name.flatten(),
            account: account.flatten(),
            state: state.flatten(),
            start_type: start_type.flatten(),
            depends_on: depends_on.flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixteen_bytes_change_case_as_each_byte_does() {
        for filler in [b'Q', b'q', b'@', 0xc3] {
            for byte in 0..=u8::MAX {
                for at in 0..16 {
                    let mut bytes = [filler; 16];
                    bytes[at] = byte;
                    let lowered = bytes.map(|b| b.to_ascii_lowercase());
                    let raised = bytes.map(|b| b.to_ascii_uppercase());
                    let word = u128::from_be_bytes(bytes);
                    assert_eq!(
                        ascii_lowercase(word),
                        u128::from_be_bytes(lowered),
                        "lower {byte:#x} at {at} among {filler:#x}"
                    );
                    assert_eq!(
                        ascii_uppercase(word),
                        u128::from_be_bytes(raised),
                        "upper {byte:#x} at {at} among {filler:#x}"
                    );
                }
            }
        }
    }

    #[test]
    fn folded_comparison_is_eq_ignore_ascii_case() {
        let names = [
            "",
            "a",
            "A",
            "MSExchangeSA",
            "msexchangesa",
            "MSExchangeSB",
            "msexchangesa ",
            "a-service-name-longer-than-sixteen-bytes",
            "A-SERVICE-NAME-LONGER-THAN-SIXTEEN-BYTES",
            "A-SERVICE-NAME-LONGER-THAN-SIXTEEN-BYTEZ",
            "Überwachung",
            "ÜBERWACHUNG",
            "überwachung",
            "[@`{",
            "{`@[",
        ];
        for a in names {
            for b in names {
                assert_eq!(
                    same_folded(a, b),
                    a.eq_ignore_ascii_case(b),
                    "{a:?} / {b:?}"
                );
            }
        }
    }

    #[test]
    fn folded_comparison_and_hash_hold_at_every_length() {
        // Every length up to three words, with one byte changed at each place, in case or not:
        // the packing of the last bytes must neither lose a byte nor confuse two.
        let hasher = foldhash::fast::RandomState::default();
        for len in 0..48 {
            let name: String = (0..len)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            assert!(same_folded(&name, &name));
            for at in 0..len {
                let mut bytes = name.clone().into_bytes();
                bytes[at] = bytes[at].to_ascii_uppercase();
                let raised = String::from_utf8(bytes.clone()).unwrap_or_default();
                assert!(same_folded(&name, &raised), "{name} / {raised}");
                assert_eq!(fold_hash(&hasher, &name), fold_hash(&hasher, &raised));
                bytes[at] = b'-';
                let changed = String::from_utf8(bytes).unwrap_or_default();
                assert!(!same_folded(&name, &changed), "{name} / {changed}");
                assert!(!same_folded(&name, &name[..at]), "{name} / {}", &name[..at]);
            }
        }
    }

    #[test]
    fn names_equal_without_regard_to_ascii_case_hash_alike() {
        let hasher = foldhash::fast::RandomState::default();
        for (a, b) in [
            ("MSExchangeSA", "msexchangesa"),
            ("LanManWorkstation", "lanmanworkstation"),
            (
                "a-service-name-longer-than-sixteen-bytes",
                "A-SERVICE-NAME-LONGER-THAN-SIXTEEN-BYTES",
            ),
            ("Überwachung", "ÜBERWACHUNG"),
            ("", ""),
        ] {
            assert!(a.eq_ignore_ascii_case(b));
            assert_eq!(fold_hash(&hasher, a), fold_hash(&hasher, b), "{a} / {b}");
        }
    }

    /// The one-pass parse, as the owned model: what it found, or `None` when it refused.
    fn fast(text: &str) -> Option<serde_json::Value> {
        let text: Arc<str> = Arc::from(text);
        let (data, index) = parse(&text).ok()?;
        let services: Vec<Service> = index.iter().map(|s| s.to_service()).collect();
        // The lazily built list agrees with the index.
        assert_eq!(
            serde_json::to_value(&*data.services).ok(),
            serde_json::to_value(&services).ok()
        );
        serde_json::to_value(Snapshot {
            format: FORMAT_V1.to_string(),
            host: data.host,
            collected_at: data.collected_at,
            services,
            facts: data.facts,
        })
        .ok()
    }

    fn derived(text: &str) -> Option<serde_json::Value> {
        let s: Snapshot = serde_json::from_str(text).ok()?;
        if s.format != FORMAT_V1 {
            return None;
        }
        serde_json::to_value(s).ok()
    }

    fn doc(services: &str, rest: &str) -> String {
        format!(
            r#"{{"format": "expolicy-snapshot/1", "host": {{"name": "H"}}, "services": [{services}]{rest}}}"#
        )
    }

    #[test]
    fn agrees_with_the_derived_model() {
        let docs = [
            doc("", ""),
            doc(
                r#"{"name": "A\u0066d", "display_name": "x\"y", "state": "running", "start_type": "system", "account": "NT AUTHORITY\\LocalService", "depends_on": ["Tcp\u0069p", "RpcSs"]}"#,
                r#", "facts": {"a": {"b": [1, 2.5, "x\n"]}}, "collected_at": "2026-01-01""#,
            ),
            doc(
                r#"{"name": "A", "display_name": null, "state": null, "start_type": null, "account": null, "depends_on": null, "extra": {"deep": [1, {"x": null}]}}"#,
                r#", "facts": {}, "unknown": [1, 2, 3], "collected_at": null"#,
            ),
            doc(r#"{"name": "A", "depends_on": []}, {"name": "B"}"#, ""),
            // The derived model also reads a struct written as an array; the fallback does.
            doc(r#"["A", null, "running", null, null, null]"#, ""),
        ];
        for text in &docs {
            let derived = derived(text).unwrap_or_else(|| panic!("derived refuses {text}"));
            if let Some(fast) = fast(text) {
                assert_eq!(fast, derived, "{text}");
            }
            // Whichever pass reads it, loading gives the derived model's snapshot.
            let loaded = crate::snapshot::load("x.json", text.as_bytes())
                .map_err(|e| e.0.message)
                .unwrap_or_else(|m| panic!("{m}: {text}"));
            let services: Vec<Service> = loaded.services.iter().map(|s| s.to_service()).collect();
            assert_eq!(
                serde_json::to_value(&services).ok(),
                derived.get("services").cloned()
            );
        }
    }

    #[test]
    fn refuses_what_the_derived_model_refuses() {
        let docs = [
            doc(r#"{"name": "A", "name": "B"}"#, ""),
            doc(r#"{"display_name": "A"}"#, ""),
            doc(r#"{"name": 5}"#, ""),
            doc(r#"{"name": "A", "state": "sleeping"}"#, ""),
            doc(r#"{"name": "A", "depends_on": "RpcSs"}"#, ""),
            doc(r#"{"name": "A", "depends_on": [1]}"#, ""),
            doc("", r#", "services": []"#),
            doc("", r#", "facts": 1e400"#),
            doc("", "} trailing"),
            r#"{"format": "expolicy-snapshot/2", "host": {"name": "H"}, "services": []}"#
                .to_string(),
            r#"{"host": {"name": "H"}, "services": []}"#.to_string(),
            r#"{"format": "expolicy-snapshot/1", "services": []}"#.to_string(),
            r#"{"format": "expolicy-snapshot/1", "host": {"name": "H"}}"#.to_string(),
            r#"{"format": "expolicy-snapshot/1", "host": {"name": "H"}, "services": null}"#
                .to_string(),
            "[]".to_string(),
            format!(
                r#"{{"format": "expolicy-snapshot/1", "host": {{"name": "H"}}, "services": [], "facts": {}1{}}}"#,
                "[".repeat(200),
                "]".repeat(200)
            ),
        ];
        for text in &docs {
            assert!(derived(text).is_none(), "derived accepts {text}");
            assert!(fast(text).is_none(), "one-pass accepts {text}");
        }
    }

    #[test]
    fn names_differing_in_case_are_one_service() {
        let text: Arc<str> = Arc::from(doc(r#"{"name": "RpcSs"}, {"name": "rpcss"}"#, ""));
        assert!(matches!(parse(&text), Err(FastError::Duplicate)));
        let text: Arc<str> = Arc::from(doc(r#"{"name": "RpcSs"}, {"name": "Rpc\u0053s2"}"#, ""));
        let (_, index) = parse(&text).ok().unwrap_or_else(|| panic!("refused"));
        assert_eq!(index.get("RPCSS"), Some(0));
        assert_eq!(index.get("rpcss2"), Some(1));
        assert_eq!(index.get("rpcss3"), None);
        assert_eq!(index.get(""), None);
    }

    #[test]
    fn every_test_snapshot_reads_the_same_both_ways() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut seen = 0;
        for pattern in [
            "policies/*/tests/*.snapshot.json",
            "tests/**/*.json",
            "examples/**/*.json",
        ] {
            let full = root.join(pattern).display().to_string();
            for path in glob::glob(&full).into_iter().flatten().flatten() {
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
                if let Some(derived) = derived(text) {
                    let fast = fast(text);
                    // Refusing is allowed only for names that differ in case.
                    if let Some(fast) = fast {
                        assert_eq!(fast, derived, "{}", path.display());
                        seen += 1;
                    }
                } else {
                    assert!(fast(text).is_none(), "one-pass accepts {}", path.display());
                }
            }
        }
        assert!(seen > 50, "only {seen} snapshots compared");
    }
}
