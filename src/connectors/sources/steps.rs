use super::*;

/// A saved source and what saving did to its credentials.
pub struct Saved {
    pub source: sources::Model,
    /// Secret fields dropped because the source's address changed.
    pub cleared: Vec<String>,
}

/// The sentence pages and the API show when `cleared` is not empty.
pub fn cleared_sentence(cleared: &[String]) -> String {
    format!(
        "The source's address changed, so its saved {} {} cleared: a key is never sent to a new address. Enter it again.",
        cleared.join(" and "),
        if cleared.len() == 1 { "was" } else { "were" }
    )
}

/// Step 1: saves a new draft (`existing` none) or changed credentials.
/// Changing the connection (URL, key…) clears the last test: it must pass
/// again. Changing the address (scheme, host or port of a URL field) clears
/// every saved secret not entered anew in the same input: whoever may edit a
/// source must not be able to send its key to a server of their choosing.
pub async fn save_credentials(
    state: &AppState,
    actor: &Actor,
    existing: Option<&sources::Model>,
    input: &SourceInput,
) -> Result<Saved, Refusal> {
    // Unreadable saved secrets count as none: the form then asks for them.
    let saved_secrets = existing.map(|s| secrets(state, s).unwrap_or_default()).unwrap_or_default();
    let (kind, name) = check_input(input, &saved_secrets)?;
    if existing.is_some_and(|s| s.kind != input.kind) {
        return Err(field("kind", "The kind of a saved source cannot change; create another source."));
    }
    let mut plain = BTreeMap::new();
    let mut secret_values = saved_secrets.clone();
    let mut entered = Vec::new();
    for f in kind.spec().fields {
        let v = input.config.get(f.name).map(|v| v.trim().to_owned()).unwrap_or_default();
        if f.secret() {
            if !v.is_empty() && !v.starts_with(MASK_DOTS) {
                secret_values.insert(f.name.to_owned(), v);
                entered.push(f.name);
            }
        } else if !v.is_empty() {
            let v = if f.kind == FieldKind::Url {
                crate::connectors::outbound::parse_url(&v).map(|u| u.to_string()).unwrap_or(v)
            } else {
                v
            };
            plain.insert(f.name.to_owned(), v);
        }
    }
    let mut cleared = Vec::new();
    if let Some(s) = existing
        && origins(kind, &plain_config(s)) != origins(kind, &plain)
    {
        secret_values.retain(|k, _| {
            let keep = entered.contains(&k.as_str());
            if !keep {
                cleared.push(k.clone());
            }
            keep
        });
    }
    let hints: BTreeMap<String, String> = secret_values.iter().map(|(k, v)| (k.clone(), last4(v))).collect();
    let connection_changed = existing.is_none_or(|s| *s.config != plain || saved_secrets != secret_values);
    let now = Utc::now();
    let mut m = match existing {
        Some(s) => sources::ActiveModel::from(s.clone()),
        None => sources::ActiveModel {
            workspace_id: Set(actor.workspace_id),
            kind: Set(kind.spec().kind.to_owned()),
            status: Set(DRAFT),
            streams: Set(Json(Vec::new())),
            created_at: Set(now),
            created_by: Set(Some(actor.user_id)),
            ..Default::default()
        },
    };
    m.name = Set(name.clone());
    m.name_key = Set(crate::domain::text::name_key(&name));
    m.look_key = Set(Some(crate::domain::text::look_key(&name)));
    m.config = Set(Json(plain));
    m.secret_hints = Set(Json(hints));
    m.updated_at = Set(now);
    if connection_changed {
        m.last_test = Set(None);
        m.last_test_at = Set(None);
    }
    if existing.is_none() {
        m.secrets_sealed = Set(None);
    }
    let Some(saved) = store::save_source(&state.db, m).await? else {
        return Err(field("name", "Another source in this workspace has this name. Choose another name."));
    };
    // Sealed with the row id as associated data, so a sealed value copied to
    // another row does not open.
    let sealed = state.sealer.seal(&aad(saved.id), &serde_json::to_string(&secret_values).unwrap_or_default());
    let mut m = sources::ActiveModel::from(saved);
    m.secrets_sealed = Set(Some(sealed));
    let saved =
        store::save_source(&state.db, m).await?.ok_or_else(|| field("name", "Another source has this name."))?;
    let (action, detail) = match existing {
        None => ("source.created", format!("Draft {} source created.", kind.spec().name)),
        Some(_) if connection_changed => {
            ("source.changed", "Connection settings changed; to be tested again.".to_owned())
        }
        Some(_) => ("source.changed", "Renamed.".to_owned()),
    };
    crate::store::audit::record(&state.db, actor.event(action, target(&saved), detail)).await?;
    if !cleared.is_empty() {
        let detail = format!("The address changed; saved {} cleared.", cleared.join(", "));
        crate::store::audit::record(&state.db, actor.event("source.credentials_cleared", target(&saved), detail))
            .await?;
    }
    Ok(Saved { source: saved, cleared })
}

/// Step 2: check, discover, read one record. The outcome (and on success
/// the streams found) is stored on the source; a failing source that
/// passes becomes active again.
pub async fn test(
    state: &AppState,
    actor: &Actor,
    s: &sources::Model,
) -> Result<(sources::Model, TestResult), Refusal> {
    let outcome = match (ctx(state, s), crate::connectors::kind(&s.kind)) {
        (Ok(cx), Some(kind)) => crate::connectors::test_connection(kind, &cx, &chosen_streams(s)).await,
        (Err(e), _) => Err(e),
        (Ok(_), None) => Err(ConnectorError::config(format!("keyhub no longer knows the kind “{}”.", s.kind))),
    };
    let now = Utc::now();
    let mut m = sources::ActiveModel::from(s.clone());
    let mut recovered = false;
    let result = match outcome {
        Ok((found, read)) => {
            let (streams, unavailable) = (found.streams, found.unavailable);
            let count = streams.len();
            let secrets: Vec<String> = secrets(state, s).map(|m| m.into_values().collect()).unwrap_or_default();
            let sample = read.map(|(stream, record)| sample_of(&stream, &record, &secrets));
            // A chosen stream the source now names otherwise (same path or
            // table: discovery's naming changed) keeps being synced, into
            // the same tab; one that vanished is no longer chosen.
            let renamed = renamed_streams(&catalog(s), &streams, &chosen_streams(s));
            for (from, to) in &renamed {
                store::rename_tab_stream(&state.db, s.id, from, to).await?;
            }
            let kept: Vec<String> = chosen_streams(s)
                .into_iter()
                .map(|c| renamed.iter().find(|(from, _)| *from == c).map_or(c, |(_, to)| to.clone()))
                .filter(|c| streams.iter().any(|st| st.name == *c))
                .collect();
            if !renamed.is_empty() {
                let mut modes = stream_modes(s);
                for (from, to) in &renamed {
                    if let Some(mode) = modes.remove(from) {
                        modes.insert(to.clone(), mode);
                    }
                }
                m.stream_modes = Set(Json(modes));
            }
            m.catalog = Set(Some(Json(streams)));
            m.streams = Set(Json(kept));
            if s.status == FAILING {
                recovered = true;
                m.status = Set(ACTIVE);
                // Its schedule stood still while failing: the next run is one
                // interval from now, not a time that passed meanwhile (which
                // would start a sync the moment the test passed).
                m.next_sync_at = Set(next_from_now(s));
            }
            note_success(&mut m);
            TestResult { ok: true, error: None, streams: count, sample, unavailable }
        }
        Err(e) => {
            note_failure(
                &mut m,
                s,
                &Failure { at: now, during: "test".into(), run_id: None, stream: None, error: e.clone() },
            );
            TestResult { ok: false, error: Some(e), streams: 0, sample: None, unavailable: Vec::new() }
        }
    };
    m.last_test = Set(Some(Json(result.clone())));
    m.last_test_at = Set(Some(now));
    let saved = store::save_source(&state.db, m).await?.ok_or(Refusal::NotFound)?;
    let detail = match &result.error {
        None if result.unavailable.is_empty() => format!("Connection test passed; {} streams.", result.streams),
        None => {
            format!("Connection test passed; {} streams, {} unavailable.", result.streams, result.unavailable.len())
        }
        Some(e) => format!("Connection test failed: {}.", e.class.title()),
    };
    crate::store::audit::record(&state.db, actor.event("source.tested", target(&saved), detail)).await?;
    if recovered {
        crate::notify::notices::source_changed(state, &saved, false, None).await?;
    }
    Ok((saved, result))
}

/// Chosen streams missing from `found` that it holds under another name:
/// (old name, new name), matched by where they are read (`path`, `table`).
fn renamed_streams(before: &[StreamInfo], found: &[StreamInfo], chosen: &[String]) -> Vec<(String, String)> {
    let place = |st: &StreamInfo| (st.locator.get("path").cloned(), st.locator.get("table").cloned());
    chosen
        .iter()
        .filter(|c| !found.iter().any(|st| st.name == **c))
        .filter_map(|c| {
            let old = before.iter().find(|st| st.name == *c)?;
            let at = place(old);
            if at == (None, None) {
                return None;
            }
            let new = found.iter().find(|st| place(st) == at)?;
            Some((c.clone(), new.name.clone()))
        })
        .collect()
}

/// Step 3: the streams to sync, from those the last test found.
pub async fn choose_streams(
    state: &AppState,
    actor: &Actor,
    s: &sources::Model,
    names: &[String],
) -> Result<sources::Model, Refusal> {
    if !last_test(s).is_some_and(|t| t.ok) {
        return Err(Refusal::NotReady("Test the connection first: streams are listed after a successful test.".into()));
    }
    let catalog = catalog(s);
    let mut chosen: Vec<String> = Vec::new();
    for n in names {
        if !catalog.iter().any(|st| st.name == *n) {
            return Err(field("streams", format!("“{n}” is not a stream of this source.")));
        }
        if !chosen.contains(n) {
            chosen.push(n.clone());
        }
    }
    if chosen.is_empty() {
        return Err(field("streams", "Choose at least one stream."));
    }
    let mut m = sources::ActiveModel::from(s.clone());
    m.streams = Set(Json(chosen.clone()));
    m.updated_at = Set(Utc::now());
    let saved = store::save_source(&state.db, m).await?.ok_or(Refusal::NotFound)?;
    crate::store::audit::record(
        &state.db,
        actor.event("source.changed", target(&saved), format!("Streams: {}.", chosen.join(", "))),
    )
    .await?;
    Ok(saved)
}

/// Links the source (and its tabs) to an entity of the workspace, or unlinks it.
pub async fn link(
    state: &AppState,
    actor: &Actor,
    s: &sources::Model,
    entity_id: Option<i64>,
) -> Result<sources::Model, Refusal> {
    let entity = match entity_id {
        Some(id) => Some(
            store::entity(&state.db, actor.workspace_id, id)
                .await?
                .ok_or_else(|| field("entity_id", "There is no such entity in this workspace."))?,
        ),
        None => None,
    };
    let mut m = sources::ActiveModel::from(s.clone());
    m.entity_id = Set(entity_id);
    m.updated_at = Set(Utc::now());
    let saved = store::save_source(&state.db, m).await?.ok_or(Refusal::NotFound)?;
    store::set_tabs_entity(&state.db, s.id, entity_id).await?;
    let (kind, detail) = match &entity {
        Some(e) => ("source.linked", format!("Linked to the entity {}.", e.name)),
        None => ("source.unlinked", "Unlinked from its entity.".to_owned()),
    };
    crate::store::audit::record(&state.db, actor.event(kind, target(&saved), detail)).await?;
    Ok(saved)
}

/// Unlinks a source from its entity: its tabs stay on the entity (no longer
/// synced) when `keep_tabs`, else they go with their datasets.
pub async fn unlink(state: &AppState, actor: &Actor, s: &sources::Model, keep_tabs: bool) -> Result<(), Refusal> {
    if keep_tabs {
        store::detach_tabs(&state.db, s.id).await?;
    } else {
        remove_tabs(state, actor, s).await?;
    }
    link(state, actor, s, None).await?;
    Ok(())
}

pub(super) async fn remove_tabs(state: &AppState, actor: &Actor, s: &sources::Model) -> Result<(), Refusal> {
    for tab in store::tabs_of_source(&state.db, s.id).await? {
        store::delete_tab(&state.db, tab.id).await?;
        if let Some(ds) = crate::store::datahub::dataset_any(&state.db, s.workspace_id, tab.dataset_id).await? {
            crate::datasets::service::delete(state, actor, &ds).await?;
        }
    }
    Ok(())
}

/// Step 4: makes the source active and starts its first sync.
pub async fn activate(state: &AppState, actor: &Actor, s: &sources::Model) -> Result<(sources::Model, i64), Refusal> {
    if !last_test(s).is_some_and(|t| t.ok) {
        return Err(Refusal::NotReady("Test the connection (and have it pass) before activating.".into()));
    }
    if chosen_streams(s).is_empty() {
        return Err(Refusal::NotReady("Choose at least one stream before activating.".into()));
    }
    let mut m = sources::ActiveModel::from(s.clone());
    if s.status == DRAFT {
        m.status = Set(ACTIVE);
    }
    m.updated_at = Set(Utc::now());
    let saved = store::save_source(&state.db, m).await?.ok_or(Refusal::NotFound)?;
    if s.status == DRAFT {
        crate::store::audit::record(&state.db, actor.event("source.activated", target(&saved), "Activated.".into()))
            .await?;
    }
    let run = enqueue(state, &saved, "activate").await?;
    Ok((saved, run))
}

/// Deletes a source and its run history; its tabs (and their datasets) go
/// too unless `keep_tabs`.
pub async fn delete(state: &AppState, actor: &Actor, s: &sources::Model, keep_tabs: bool) -> Result<(), Refusal> {
    if let Some(run) = store::live_run(&state.db, s.id).await? {
        return Err(Refusal::Running(run.id));
    }
    if keep_tabs {
        store::detach_tabs(&state.db, s.id).await?;
    } else {
        remove_tabs(state, actor, s).await?;
    }
    store::delete_source(&state.db, s.id).await?;
    crate::store::audit::record(
        &state.db,
        actor.event(
            "source.deleted",
            target(s),
            if keep_tabs { "Deleted; its tabs were kept." } else { "Deleted with its tabs." }.into(),
        ),
    )
    .await?;
    Ok(())
}
