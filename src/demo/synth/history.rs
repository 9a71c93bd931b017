//! The committed sample tenant ("Contoso Ltd", `samples/`) and the demo's history: six months of
//! daily collections of that tenant, rebuilt deterministically from the committed files.
//!
//! The history is a model of each user over time, derived from the sample's final state and
//! hashes of ids (no clock, no randomness): when the account was created, disabled or removed,
//! and which methods it held when. Every change of methods is an Authentication Methods audit
//! event, and each day's `directoryAudits` pages hold the events of the 30 days before that
//! collection, so windows overlap and an event keeps its id from day to day. The model at the
//! final collection time reproduces the sample files byte for byte; the sample's own audit pages
//! are written from the model (see [`write_samples`]).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

use super::graph::{
    Activity, Audit, PageWriter, Person, Registration, Source, User, fmt_ticks, instant,
    is_qualifying, page_file, parse_ticks, remove_pages, write_file, write_provenance,
};
use super::{
    DAY, HOUR, HiringWave, Methods, QUALIFYING_SETS, Rng, TenantSpec, TenantSummary, config_toml,
    hash_str, mix3, names, token_seed, write_tenant,
};

/// One collection of the demo history: the import folder and its collection time.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryDay {
    pub collected_at: DateTime<Utc>,
    pub dir: PathBuf,
}

/// The seed of the sample tenant.
pub const SAMPLE_SEED: u64 = 20_261_031;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("a fixed, valid time")
}

fn secs(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    utc(y, mo, d, h, mi).timestamp()
}

/// The sample tenant's collection time: the last day of the history.
pub fn sample_collected_at() -> DateTime<Utc> {
    utc(2026, 10, 31, 6, 0)
}

/// The parameters of the committed sample tenant.
pub fn sample_spec() -> TenantSpec {
    let mut spec = TenantSpec::new(300, SAMPLE_SEED, sample_collected_at());
    spec.target_percent = 95.6;
    spec.second_break_glass_phishing_resistant = false;
    spec.hiring_wave = Some(HiringWave {
        start: utc(2026, 7, 13, 0, 0),
        days: 4,
        users: 36,
    });
    spec.audits_per_page = 50;
    spec
}

/// The collection times of the demo history: daily at 06:00 UTC from 2026-05-01 to 2026-10-31,
/// except 2026-08-16, when collection did not run (the next run, on 2026-08-17, came at 09:12).
pub fn history_times() -> Vec<DateTime<Utc>> {
    let first = utc(2026, 5, 1, 6, 0);
    let mut times = Vec::new();
    let mut t = first;
    while t <= sample_collected_at() {
        if t == utc(2026, 8, 16, 6, 0) {
            // missed
        } else if t == utc(2026, 8, 17, 6, 0) {
            times.push(utc(2026, 8, 17, 9, 12));
        } else {
            times.push(t);
        }
        t += chrono::TimeDelta::days(1);
    }
    times
}

/// Writes the sample tenant to `dir`: the generated tenant of [`sample_spec`], with its audit
/// log written from the history model, and its configuration as `mfa-evidence.toml`.
pub fn write_samples(dir: &Path) -> Result<TenantSummary> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    remove_pages(dir)?;
    let mut summary = write_tenant(&sample_spec(), dir)?;
    write_file(
        &dir.join("mfa-evidence.toml"),
        config_toml(&summary).as_bytes(),
    )?;
    let model = Model::build(&Final::read(dir)?)?;
    let counts = model.write_day(sample_collected_at().timestamp(), dir)?;
    summary.audit_events = counts
        .iter()
        .find(|(s, _, _)| s == Source::Audits.stem())
        .map_or(0, |(_, _, items)| *items);
    summary.pages = counts;
    Ok(summary)
}

/// Writes the demo history from the committed sample tenant in `samples_dir`: one import folder
/// per collection under `out_root` (named by the collection time, e.g. `2026-05-01T060000Z`),
/// oldest first. The last one holds the same files as the samples.
pub fn write_demo_history(samples_dir: &Path, out_root: &Path) -> Result<Vec<HistoryDay>> {
    let model = Model::build(&Final::read(samples_dir)?)?;
    let mut days = Vec::new();
    for t in history_times() {
        let dir = out_root.join(t.format("%Y-%m-%dT%H%M%SZ").to_string());
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        remove_pages(&dir)?;
        model.write_day(t.timestamp(), &dir)?;
        days.push(HistoryDay {
            collected_at: t,
            dir,
        });
    }
    Ok(days)
}

/// An item of a day's page: the sample's own item (as it is, or changed), or one written from
/// the model. Untagged, so each serialises as the object it holds.
#[derive(serde::Serialize)]
#[serde(untagged)]
enum Item<'a, T> {
    Kept(&'a Value),
    Changed(Value),
    Made(T),
}

// ---------------------------------------------------------------------------------------------
// The final state, read back from the sample files.

struct Final {
    tenant_id: String,
    domain: String,
    break_glass_group: String,
    users: Vec<Value>,
    rows: HashMap<String, Value>,
    break_glass: HashSet<String>,
    organization: Vec<u8>,
    break_glass_page: Vec<u8>,
    methods_policy: Vec<u8>,
    conditional_access: Vec<u8>,
    policies: u64,
    /// Ids and lower-case principal names of the users the configuration excepts.
    excepted: HashSet<String>,
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn parse(path: &Path, bytes: &[u8]) -> Result<Value> {
    serde_json::from_slice(bytes).with_context(|| format!("{} is not JSON", path.display()))
}

/// The `value` items of every page of a source, in page order.
fn read_items(dir: &Path, source: Source) -> Result<Vec<Value>> {
    let mut items = Vec::new();
    for n in 1.. {
        let path = dir.join(page_file(source, n));
        if !path.exists() {
            if n == 1 {
                bail!(
                    "{} is missing: is {} a sample tenant folder?",
                    path.display(),
                    dir.display()
                );
            }
            break;
        }
        let mut page = parse(&path, &read(&path)?)?;
        match page.get_mut("value").map(Value::take) {
            Some(Value::Array(v)) => items.extend(v),
            _ => bail!("{} has no value array", path.display()),
        }
    }
    Ok(items)
}

fn text(v: &Value, key: &str) -> Result<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::to_string)
        .with_context(|| format!("an item has no string {key}"))
}

impl Final {
    fn read(dir: &Path) -> Result<Final> {
        let org_path = dir.join(page_file(Source::Organization, 1));
        let organization = read(&org_path)?;
        let org = parse(&org_path, &organization)?;
        let org0 = &org["value"][0];
        let tenant_id = text(org0, "id")?;
        let domain = org0["verifiedDomains"]
            .as_array()
            .and_then(|ds| ds.iter().find(|d| d["isDefault"] == Value::Bool(true)))
            .and_then(|d| d["name"].as_str())
            .context("the organization has no default domain")?
            .to_string();
        let provenance_path = dir.join("provenance.json");
        let provenance: crate::snapshot::CollectionRecord =
            serde_json::from_slice(&read(&provenance_path)?).with_context(|| {
                format!("{} is not a collection record", provenance_path.display())
            })?;
        let break_glass_group = provenance
            .sources
            .iter()
            .find(|s| s.name == Source::BreakGlass)
            .and_then(|s| s.endpoint.as_deref()?.split("/groups/").nth(1))
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_default()
            .to_string();
        let users = read_items(dir, Source::Users)?;
        let mut rows = HashMap::new();
        for row in read_items(dir, Source::Registration)? {
            rows.insert(text(&row, "id")?, row);
        }
        let break_glass = read_items(dir, Source::BreakGlass)?
            .iter()
            .map(|m| text(m, "id"))
            .collect::<Result<_>>()?;
        let ca_path = dir.join(page_file(Source::ConditionalAccess, 1));
        let conditional_access = read(&ca_path)?;
        let policies = parse(&ca_path, &conditional_access)?["value"]
            .as_array()
            .map_or(0, |v| v.len() as u64);
        let mut excepted = HashSet::new();
        let config_path = dir.join(crate::config::DEFAULT_CONFIG_FILE);
        if config_path.exists() {
            let config = crate::config::Config::from_file(&config_path)?;
            for e in config.control.exceptions {
                excepted.extend(e.user_id);
                excepted.extend(e.upn.map(|u| u.to_lowercase()));
            }
        }
        Ok(Final {
            excepted,
            tenant_id,
            domain,
            break_glass_group,
            users,
            rows,
            break_glass,
            organization,
            break_glass_page: read(&dir.join(page_file(Source::BreakGlass, 1)))?,
            methods_policy: read(&dir.join(page_file(Source::AuthMethodsPolicy, 1)))?,
            conditional_access,
            policies,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// The model.

/// One user over the history.
struct MUser {
    /// The final `/users` item; `None` for a leaver removed before the end.
    item: Option<Value>,
    person: Person,
    guest: bool,
    synced: bool,
    created: i64,
    /// Removed from the directory at this time (leavers).
    removed: Option<i64>,
    /// Disabled from this time on.
    disabled_from: Option<i64>,
    /// The final registration row, used as the template while the methods are the final ones.
    row: Option<Value>,
    is_admin: bool,
    /// Never in the registration report (missing at the end, enabled all along).
    never_reported: bool,
    /// Methods from a time on; the first entry starts at `i64::MIN`.
    timeline: Vec<(i64, Vec<String>)>,
    /// `lastUpdatedDateTime` lags the collection by this many 100 ns ticks.
    report_lag: i64,
}

impl MUser {
    fn exists(&self, t: i64) -> bool {
        self.created <= t && self.removed.is_none_or(|r| t < r)
    }

    fn enabled(&self, t: i64) -> bool {
        self.disabled_from.is_none_or(|d| t < d)
    }

    fn methods(&self, t: i64) -> &[String] {
        self.timeline
            .iter()
            .rev()
            .find(|(from, _)| *from <= t)
            .map_or(&[], |(_, m)| m.as_slice())
    }

    fn final_methods(&self) -> &[String] {
        self.timeline.last().map_or(&[], |(_, m)| m.as_slice())
    }
}

struct Event {
    time: (i64, u32),
    activity: Activity,
    target: usize,
    initiator: usize,
    method: Option<String>,
    id_hash: u64,
}

struct Model {
    tenant_id: String,
    break_glass_group: String,
    users: Vec<MUser>,
    /// Newest first.
    events: Vec<Event>,
    organization: Vec<u8>,
    break_glass_page: Vec<u8>,
    break_glass_members: u64,
    methods_policy: Vec<u8>,
    conditional_access: Vec<u8>,
    policies: u64,
    users_per_page: usize,
    audits_per_page: usize,
}

/// A fixed time of the story: year, month, day, hour, minute (UTC).
type When = (i32, u32, u32, u32, u32);

/// Older users who registered during the period, with when (and whether a helpdesk admin did
/// it for them).
const REMEDIATIONS: [(When, bool); 3] = [
    ((2026, 5, 6, 10, 14), false),
    ((2026, 5, 19, 15, 40), true),
    ((2026, 6, 2, 9, 5), false),
];

/// Users unregistered at the end who held a qualifying method until they deleted it (a new
/// phone, a reset Authenticator), and when.
const LAPSES: [When; 3] = [
    (2026, 9, 17, 11, 2),
    (2026, 10, 6, 8, 31),
    (2026, 10, 20, 14, 48),
];

/// The user who registers, deletes and registers again.
const FLIP_DELETE: When = (2026, 6, 9, 16, 20);
const FLIP_REGISTER: When = (2026, 6, 12, 8, 45);

/// Leavers: disabled at the first time, removed from the directory that many days later.
const LEAVERS: [(When, i64); 6] = [
    ((2026, 5, 22, 17, 30), 21),
    ((2026, 6, 19, 17, 5), 14),
    ((2026, 7, 2, 16, 45), 30),
    ((2026, 8, 7, 18, 10), 28),
    ((2026, 9, 4, 17, 20), 18),
    ((2026, 9, 25, 16, 55), 24),
];

fn strings(methods: Methods) -> Vec<String> {
    methods.iter().map(|m| m.to_string()).collect()
}

fn qualifies(methods: &[String]) -> bool {
    methods.iter().any(|m| is_qualifying(m))
}

impl Model {
    fn build(fin: &Final) -> Result<Model> {
        let spec = sample_spec();
        let end = spec.collected_at.timestamp();
        let times: Vec<i64> = history_times().iter().map(DateTime::timestamp).collect();
        let start = times[0];
        let events_from = start - 30 * DAY;
        let salt = hash_str(&fin.tenant_id);
        let wave = spec.hiring_wave.as_ref().map(|w| {
            let s = w.start.timestamp();
            (s, s + i64::from(w.days) * DAY)
        });

        let mut users = Vec::with_capacity(fin.users.len() + LEAVERS.len());
        for item in &fin.users {
            let id = text(item, "id")?;
            let person = Person {
                upn: text(item, "userPrincipalName")?,
                name: text(item, "displayName")?,
                id,
            };
            let created = parse_ticks(&text(item, "createdDateTime")?)?.0;
            let row = fin.rows.get(&person.id).cloned();
            let methods: Vec<String> = match &row {
                Some(row) => row["methodsRegistered"]
                    .as_array()
                    .context("a registration row has no methodsRegistered")?
                    .iter()
                    .filter_map(|m| m.as_str().map(str::to_string))
                    .collect(),
                None => Vec::new(),
            };
            let report_lag = match &row {
                Some(row) => {
                    let (s, ticks) = parse_ticks(&text(row, "lastUpdatedDateTime")?)?;
                    end * 10_000_000 - (s * 10_000_000 + i64::from(ticks))
                }
                None => {
                    let mut r = Rng::new(mix3(salt, hash_str(&person.id), 0x1A6));
                    r.range(HOUR, 6 * HOUR) * 10_000_000 + i64::from(r.ticks())
                }
            };
            let enabled = item["accountEnabled"] != Value::Bool(false);
            let is_admin = row
                .as_ref()
                .is_some_and(|r| r["isAdmin"] == Value::Bool(true));
            users.push(MUser {
                guest: item["userType"] == Value::String("Guest".into()),
                synced: item["onPremisesSyncEnabled"] == Value::Bool(true),
                item: Some(item.clone()),
                person,
                created,
                removed: None,
                disabled_from: (!enabled).then_some(i64::MIN),
                never_reported: enabled && row.is_none(),
                row,
                is_admin,
                timeline: vec![(i64::MIN, methods)],
                report_lag,
            });
        }

        // Leavers: registered members, disabled during the period, then removed.
        let upns: HashSet<String> = users.iter().map(|u| u.person.upn.to_lowercase()).collect();
        let combos = names::combinations();
        let mut candidate = mix3(salt, 0x1EA7, 0) % combos;
        for (k, (leave, removed_after)) in LEAVERS.iter().enumerate() {
            let mut r = Rng::new(mix3(salt, 0x1EA7, k as u64 + 1));
            let (name, upn) = loop {
                candidate = (candidate + 7919) % combos;
                let name = names::name(candidate, 0);
                let upn = format!("{}@{}", name.stem, fin.domain);
                if !upns.contains(&upn) {
                    break (name, upn);
                }
            };
            let leave = secs(leave.0, leave.1, leave.2, leave.3, leave.4);
            let methods = QUALIFYING_SETS[r.weighted(QUALIFYING_SETS)].1;
            let m = MUser {
                item: None,
                person: Person {
                    id: super::guid(mix3(salt, 0x1EA7, 100 + k as u64)),
                    upn,
                    name: name.display,
                },
                guest: false,
                synced: true,
                created: end - r.range(2 * 365 * DAY, 7 * 365 * DAY),
                removed: Some(leave + removed_after * DAY),
                disabled_from: Some(leave),
                row: None,
                is_admin: false,
                never_reported: false,
                timeline: vec![(i64::MIN, strings(methods))],
                report_lag: r.range(HOUR, 6 * HOUR) * 10_000_000 + i64::from(r.ticks()),
            };
            let at = (mix3(salt, 0x1EA7, 200 + k as u64) % (users.len() as u64 + 1)) as usize;
            users.insert(at, m);
        }
        let helpdesk = users
            .iter()
            .position(|u| {
                u.person
                    .upn
                    .starts_with(&format!("{}@", super::HELPDESK_STEM))
            })
            .context("the sample tenant has no helpdesk account")?;

        // Roles in the story, chosen among long-standing registered members by a hash of the id.
        let mut older: Vec<(u64, usize)> = users
            .iter()
            .enumerate()
            .filter(|(i, u)| {
                u.item.is_some()
                    && !u.guest
                    && u.disabled_from.is_none()
                    && *i != helpdesk
                    && !fin.break_glass.contains(&u.person.id)
                    && u.created < events_from
                    && qualifies(u.final_methods())
            })
            .map(|(i, u)| (mix3(salt, hash_str(&u.person.id), 0x0D), i))
            .collect();
        older.sort();
        // The user who registers, deletes and registers again: a joiner of the first weeks
        // when there is one, else a long-standing user.
        let mut early_joiners: Vec<(u64, usize)> = users
            .iter()
            .enumerate()
            .filter(|(_, u)| {
                u.item.is_some()
                    && !u.guest
                    && u.disabled_from.is_none()
                    && !u.never_reported
                    && u.created > start
                    && u.created < secs(2026, 6, 20, 0, 0)
                    && qualifies(u.final_methods())
            })
            .map(|(i, u)| (mix3(salt, hash_str(&u.person.id), 0xF1), i))
            .collect();
        early_joiners.sort();
        let flip_joiner = early_joiners.first().map(|(_, i)| *i);
        let flip = match flip_joiner {
            Some(i) => i,
            None => older
                .iter()
                .map(|(_, i)| *i)
                .find(|i| {
                    users[*i]
                        .final_methods()
                        .iter()
                        .any(|m| m == "microsoftAuthenticatorPush")
                })
                .context("the sample tenant has no Authenticator user")?,
        };
        let remediated: Vec<usize> = older
            .iter()
            .map(|(_, i)| *i)
            .filter(|i| *i != flip)
            .take(REMEDIATIONS.len())
            .collect();

        let mut unregistered: Vec<(u64, usize)> = users
            .iter()
            .enumerate()
            .filter(|(_, u)| {
                u.item.is_some()
                    && !u.guest
                    && u.disabled_from.is_none()
                    && !u.never_reported
                    && u.created < events_from
                    && !fin.excepted.contains(&u.person.id)
                    && !fin.excepted.contains(&u.person.upn.to_lowercase())
                    && !qualifies(u.final_methods())
            })
            .map(|(i, u)| (mix3(salt, hash_str(&u.person.id), 0x1A95), i))
            .collect();
        unregistered.sort();
        let lapsed: Vec<usize> = unregistered
            .iter()
            .map(|(_, i)| *i)
            .take(LAPSES.len())
            .collect();

        let mut events = Vec::new();
        let mut push = |time: (i64, u32),
                        activity: Activity,
                        target: usize,
                        initiator: usize,
                        method: Option<&str>,
                        users: &[MUser]| {
            if time.0 > end || time.0 <= events_from {
                return;
            }
            let id_hash = mix3(
                salt,
                hash_str(&users[target].person.id),
                (time.0 as u64) << 8 | activity as u64,
            );
            events.push(Event {
                time,
                activity,
                target,
                initiator,
                method: method.map(str::to_string),
                id_hash,
            });
        };

        for i in 0..users.len() {
            let u = &users[i];
            let mut r = Rng::new(mix3(salt, hash_str(&u.person.id), 0x71E));
            let final_methods = u.final_methods().to_vec();
            let q = qualifies(&final_methods);

            if u.item.is_some() && u.disabled_from == Some(i64::MIN) {
                // Disabled at the end: some left during the period, registered until then.
                let methods = strings(QUALIFYING_SETS[r.weighted(QUALIFYING_SETS)].1);
                let from = start.max(u.created) + 3 * DAY;
                let disabled_from = if r.chance(0.45) && from < end - 2 * DAY {
                    r.range(from, end - 2 * DAY)
                } else {
                    i64::MIN
                };
                let u = &mut users[i];
                u.disabled_from = Some(disabled_from);
                u.timeline = vec![(i64::MIN, methods)];
                continue;
            }
            if u.item.is_none() || u.never_reported || u.disabled_from.is_some() {
                continue;
            }

            if u.created > events_from {
                // A joiner: the report lists the account from its creation; registration follows.
                let in_wave = wave.is_some_and(|(a, b)| u.created >= a && u.created < b);
                let delay = if in_wave {
                    let x = r.unit();
                    if x < 0.35 {
                        r.range(HOUR, 20 * HOUR)
                    } else if x < 0.65 {
                        r.range(DAY, 4 * DAY)
                    } else if x < 0.9 {
                        r.range(4 * DAY, 9 * DAY)
                    } else {
                        r.range(9 * DAY, 12 * DAY + 12 * HOUR)
                    }
                } else {
                    // Other joiners register before the next daily collection.
                    let next = times.iter().find(|t| **t > u.created).map_or(end, |t| *t);
                    r.range(5 * 60, (next - u.created - 5 * 60).max(6 * 60))
                };
                let at = (u.created + delay).min(end - HOUR).max(u.created + 60);
                let ticks = r.ticks();
                if q {
                    users[i].timeline = vec![(i64::MIN, Vec::new()), (at, final_methods.clone())];
                }
                let admin = q && final_methods.iter().any(|m| m == "mobilePhone") && r.chance(0.15);
                for (k, m) in final_methods.iter().enumerate() {
                    let t = (at + 40 * k as i64, ticks);
                    if admin && m == "mobilePhone" {
                        push(t, Activity::AdminRegistered, i, helpdesk, Some(m), &users);
                    } else {
                        push(t, Activity::UserRegistered, i, i, Some(m), &users);
                    }
                }
                if q {
                    let t = (at + 40 * final_methods.len() as i64 + 3, ticks);
                    push(t, Activity::UserRegisteredAll, i, i, None, &users);
                }
                if i == flip {
                    // Nine days later the qualifying methods go (a new phone), and come back
                    // two days after that.
                    let delete = at + 9 * DAY + r.range(0, 6 * HOUR);
                    let again = delete + 2 * DAY + r.range(2 * HOUR, 20 * HOUR);
                    let (kept, removed): (Vec<String>, Vec<String>) = final_methods
                        .iter()
                        .cloned()
                        .partition(|m| !is_qualifying(m));
                    users[i].timeline = vec![
                        (i64::MIN, Vec::new()),
                        (at, final_methods.clone()),
                        (delete, kept),
                        (again, final_methods.clone()),
                    ];
                    let (t1, t2) = (r.ticks(), r.ticks());
                    for (k, m) in removed.iter().enumerate() {
                        let (d, a) = (delete + 30 * k as i64, again + 30 * k as i64);
                        push((d, t1), Activity::UserDeleted, i, i, Some(m), &users);
                        push((a, t2), Activity::UserRegistered, i, i, Some(m), &users);
                    }
                }
                continue;
            }

            if i == flip {
                let delete = secs(
                    FLIP_DELETE.0,
                    FLIP_DELETE.1,
                    FLIP_DELETE.2,
                    FLIP_DELETE.3,
                    FLIP_DELETE.4,
                );
                let again = secs(
                    FLIP_REGISTER.0,
                    FLIP_REGISTER.1,
                    FLIP_REGISTER.2,
                    FLIP_REGISTER.3,
                    FLIP_REGISTER.4,
                );
                let kept: Vec<String> = final_methods
                    .iter()
                    .filter(|m| !is_qualifying(m))
                    .cloned()
                    .collect();
                let removed: Vec<String> = final_methods
                    .iter()
                    .filter(|m| is_qualifying(m))
                    .cloned()
                    .collect();
                users[i].timeline = vec![
                    (i64::MIN, final_methods.clone()),
                    (delete, kept),
                    (again, final_methods.clone()),
                ];
                let (t1, t2) = (r.ticks(), r.ticks());
                for (k, m) in removed.iter().enumerate() {
                    push(
                        (delete + 30 * k as i64, t1),
                        Activity::UserDeleted,
                        i,
                        i,
                        Some(m),
                        &users,
                    );
                    push(
                        (again + 30 * k as i64, t2),
                        Activity::UserRegistered,
                        i,
                        i,
                        Some(m),
                        &users,
                    );
                }
                continue;
            }

            if let Some(k) = lapsed.iter().position(|x| *x == i) {
                let (y, mo, d, h, mi) = LAPSES[k];
                let at = secs(y, mo, d, h, mi);
                let lost = if final_methods.iter().any(|m| m == "email") {
                    "mobilePhone"
                } else {
                    "microsoftAuthenticatorPush"
                };
                let mut before = vec![lost.to_string()];
                before.extend(final_methods.iter().cloned());
                users[i].timeline = vec![(i64::MIN, before), (at, final_methods.clone())];
                push(
                    (at, r.ticks()),
                    Activity::UserDeleted,
                    i,
                    i,
                    Some(lost),
                    &users,
                );
                continue;
            }

            if let Some(k) = remediated.iter().position(|x| *x == i) {
                let ((y, mo, d, h, mi), by_admin) = REMEDIATIONS[k];
                let at = secs(y, mo, d, h, mi);
                let before = if r.chance(0.5) {
                    Vec::new()
                } else {
                    vec!["email".to_string()]
                };
                let before = before
                    .into_iter()
                    .filter(|m| final_methods.contains(m))
                    .collect();
                users[i].timeline = vec![(i64::MIN, before), (at, final_methods.clone())];
                let ticks = r.ticks();
                for (n, m) in final_methods
                    .iter()
                    .filter(|m| is_qualifying(m))
                    .enumerate()
                {
                    let t = (at + 35 * n as i64, ticks);
                    if by_admin && n == 0 {
                        push(t, Activity::AdminRegistered, i, helpdesk, Some(m), &users);
                    } else {
                        push(t, Activity::UserRegistered, i, i, Some(m), &users);
                    }
                }
                continue;
            }

            // Everyone else registered long ago. Some added a method during the window, some
            // changed their default method.
            if q && final_methods.len() >= 2 && is_qualifying(&final_methods[0]) && r.chance(0.08) {
                let at = r.range(events_from + HOUR, end - HOUR);
                users[i].timeline = vec![
                    (i64::MIN, vec![final_methods[0].clone()]),
                    (at, final_methods.clone()),
                ];
                let ticks = r.ticks();
                for (n, m) in final_methods[1..].iter().enumerate() {
                    push(
                        (at + 35 * n as i64, ticks),
                        Activity::UserRegistered,
                        i,
                        i,
                        Some(m),
                        &users,
                    );
                }
            } else if !final_methods.is_empty() && r.chance(0.03) {
                let at = r.range(events_from + HOUR, end - HOUR);
                let activity = if r.chance(0.5) {
                    Activity::UserChangedDefault
                } else {
                    Activity::UserUpdated
                };
                push(
                    (at, r.ticks()),
                    activity,
                    i,
                    i,
                    Some(&final_methods[0]),
                    &users,
                );
            }
        }

        events.sort_by_key(|e| std::cmp::Reverse((e.time, e.id_hash)));
        Ok(Model {
            tenant_id: fin.tenant_id.clone(),
            break_glass_group: fin.break_glass_group.clone(),
            users,
            events,
            organization: fin.organization.clone(),
            break_glass_page: fin.break_glass_page.clone(),
            break_glass_members: fin.break_glass.len() as u64,
            methods_policy: fin.methods_policy.clone(),
            conditional_access: fin.conditional_access.clone(),
            policies: fin.policies,
            users_per_page: spec.users_per_page,
            audits_per_page: spec.audits_per_page,
        })
    }

    /// Writes the collection at time `t` to `dir`; returns (source, pages, items) per source.
    fn write_day(&self, t: i64, dir: &Path) -> Result<Vec<(String, u64, u64)>> {
        let tokens = token_seed(&self.tenant_id, t);
        let mut counts = Vec::new();
        write_file(
            &dir.join(page_file(Source::Organization, 1)),
            &self.organization,
        )?;
        counts.push((Source::Organization.stem().to_string(), 1, 1));

        let mut pages = PageWriter::new(dir, Source::Users, self.users_per_page, tokens);
        for u in self.users.iter().filter(|u| u.exists(t)) {
            let enabled = u.enabled(t);
            pages.push(match &u.item {
                Some(item) if (item["accountEnabled"] != Value::Bool(false)) == enabled => {
                    Item::Kept(item)
                }
                Some(item) => {
                    let mut item = item.clone();
                    item["accountEnabled"] = Value::Bool(enabled);
                    Item::Changed(item)
                }
                None => Item::Made(User::new(
                    u.person.clone(),
                    enabled,
                    u.guest,
                    instant(u.created, 0),
                    u.synced,
                )),
            })?;
        }
        let (p, n) = pages.finish()?;
        counts.push((Source::Users.stem().to_string(), p, n));

        let mut pages = PageWriter::new(dir, Source::Registration, self.users_per_page, tokens);
        for u in self.users.iter() {
            if !u.exists(t) || !u.enabled(t) || u.never_reported {
                continue;
            }
            let lag = t * 10_000_000 - u.report_lag;
            let updated = instant(
                lag.div_euclid(10_000_000),
                lag.rem_euclid(10_000_000) as u32,
            );
            let methods = u.methods(t);
            pages.push(match &u.row {
                Some(row) if methods == u.final_methods() => {
                    let mut row = row.clone();
                    row["lastUpdatedDateTime"] = Value::String(fmt_ticks(updated));
                    Item::Changed(row)
                }
                _ => {
                    let ms: Vec<&str> = methods.iter().map(String::as_str).collect();
                    Item::Made(Registration::new(
                        u.person.clone(),
                        u.guest,
                        u.is_admin,
                        updated,
                        &ms,
                    ))
                }
            })?;
        }
        let (p, n) = pages.finish()?;
        counts.push((Source::Registration.stem().to_string(), p, n));

        write_file(
            &dir.join(page_file(Source::BreakGlass, 1)),
            &self.break_glass_page,
        )?;
        counts.push((
            Source::BreakGlass.stem().to_string(),
            1,
            self.break_glass_members,
        ));

        let mut pages = PageWriter::new(dir, Source::Audits, self.audits_per_page, tokens);
        for e in self
            .events
            .iter()
            .filter(|e| e.time.0 <= t && e.time.0 > t - 30 * DAY)
        {
            pages.push(Audit::new(
                e.id_hash,
                instant(e.time.0, e.time.1),
                e.activity,
                &self.users[e.target].person,
                &self.users[e.initiator].person,
                e.method.as_deref(),
            ))?;
        }
        let (p, n) = pages.finish()?;
        counts.push((Source::Audits.stem().to_string(), p, n));

        write_file(
            &dir.join(page_file(Source::AuthMethodsPolicy, 1)),
            &self.methods_policy,
        )?;
        counts.push((Source::AuthMethodsPolicy.stem().to_string(), 1, 1));
        write_file(
            &dir.join(page_file(Source::ConditionalAccess, 1)),
            &self.conditional_access,
        )?;
        counts.push((
            Source::ConditionalAccess.stem().to_string(),
            1,
            self.policies,
        ));

        write_provenance(dir, &self.break_glass_group, &counts)?;
        Ok(counts)
    }
}
