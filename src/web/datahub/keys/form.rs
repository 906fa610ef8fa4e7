use super::*;

// ---------- the editor ----------

/// The editor's form as posted. Rows are parallel lists; a header row's
/// "exclude" box posts its row index.
#[derive(Deserialize, Default, Clone)]
pub struct KeyForm {
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) access_type: String,
    #[serde(default)]
    pub(super) status: String,
    #[serde(default)]
    pub(super) ip_range: Vec<String>,
    #[serde(default)]
    pub(super) ip_netmask: Vec<String>,
    #[serde(default)]
    pub(super) allow_all: String,
    #[serde(default)]
    pub(super) expires_at: String,
    #[serde(default)]
    pub(super) tz_offset: String,
    #[serde(default)]
    pub(super) header_name: Vec<String>,
    #[serde(default)]
    pub(super) header_value: Vec<String>,
    #[serde(default)]
    pub(super) header_exclude: Vec<String>,
    #[serde(default)]
    pub(super) endpoint_ids: Vec<String>,
    #[serde(default)]
    pub(super) user_ids: Vec<String>,
    #[serde(default)]
    pub(super) team_ids: Vec<String>,
    #[serde(default)]
    pub(super) token: String,
    #[serde(default)]
    pub(super) rate_limit_requests: String,
    #[serde(default)]
    pub(super) rate_limit_window: String,
    #[serde(default)]
    pub(super) monthly_quota: String,
    #[serde(default)]
    pub(super) version: String,
    /// Row buttons: `add_ip`, `remove_ip=N`, `add_header`, `remove_header=N`.
    #[serde(default)]
    pub(super) add_ip: String,
    #[serde(default)]
    pub(super) remove_ip: String,
    #[serde(default)]
    pub(super) add_header: String,
    #[serde(default)]
    pub(super) remove_header: String,
}

impl KeyForm {
    pub(super) fn ip_rows(&self) -> Vec<IpRow> {
        (0..self.ip_range.len().max(self.ip_netmask.len()))
            .map(|i| IpRow {
                range: self.ip_range.get(i).cloned().unwrap_or_default(),
                netmask: self.ip_netmask.get(i).cloned().unwrap_or_default(),
            })
            .collect()
    }

    pub(super) fn header_rows(&self) -> Vec<HeaderRow> {
        (0..self.header_name.len().max(self.header_value.len()))
            .map(|i| HeaderRow {
                name: self.header_name.get(i).cloned().unwrap_or_default(),
                value: self.header_value.get(i).cloned().unwrap_or_default(),
                exclude: self.header_exclude.iter().any(|x| x == &i.to_string()),
            })
            .collect()
    }

    pub(super) fn set_ip_rows(&mut self, rows: &[IpRow]) {
        self.ip_range = rows.iter().map(|r| r.range.clone()).collect();
        self.ip_netmask = rows.iter().map(|r| r.netmask.clone()).collect();
    }

    pub(super) fn set_header_rows(&mut self, rows: &[HeaderRow]) {
        self.header_name = rows.iter().map(|r| r.name.clone()).collect();
        self.header_value = rows.iter().map(|r| r.value.clone()).collect();
        self.header_exclude = rows.iter().enumerate().filter(|(_, r)| r.exclude).map(|(i, _)| i.to_string()).collect();
    }

    /// Applies an add/remove row button; true when one was pressed (then
    /// nothing is saved, the editor comes back with the rows changed).
    pub(super) fn apply_row_buttons(&mut self) -> Option<String> {
        if !self.add_ip.is_empty() {
            let mut rows = self.ip_rows();
            rows.push(IpRow::default());
            self.set_ip_rows(&rows);
            return Some(format!("ip_range-{}", rows.len() - 1));
        }
        if let Ok(i) = self.remove_ip.parse::<usize>() {
            let mut rows = self.ip_rows();
            if i < rows.len() {
                rows.remove(i);
            }
            self.set_ip_rows(&rows);
            return Some("add-ip".into());
        }
        if !self.add_header.is_empty() {
            let mut rows = self.header_rows();
            rows.push(HeaderRow::default());
            self.set_header_rows(&rows);
            return Some(format!("header_name-{}", rows.len() - 1));
        }
        if let Ok(i) = self.remove_header.parse::<usize>() {
            let mut rows = self.header_rows();
            if i < rows.len() {
                rows.remove(i);
            }
            self.set_header_rows(&rows);
            return Some("add-header".into());
        }
        None
    }

    pub(super) fn from_key(k: &hub_keys::Model, links: &crate::store::hub_keys::Links) -> KeyForm {
        let mut f = KeyForm {
            name: k.name.clone(),
            access_type: k.access_type.to_string(),
            status: k.status.to_string(),
            allow_all: if manage::ip_rows(k).iter().any(|r| r.netmask == "0") { "yes".into() } else { String::new() },
            // Shown in UTC; the script converts it to the browser's time zone.
            expires_at: k.expires_at.map(|t| t.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default(),
            tz_offset: "0".into(),
            endpoint_ids: links.endpoint_ids.iter().map(i64::to_string).collect(),
            user_ids: links.user_ids.iter().map(i64::to_string).collect(),
            team_ids: links.team_ids.iter().map(i64::to_string).collect(),
            version: k.version.to_string(),
            ..Default::default()
        };
        (f.rate_limit_requests, f.rate_limit_window, f.monthly_quota) = manage::limit_texts(&manage::limits_of(k));
        f.set_ip_rows(&manage::ip_rows(k));
        f.set_header_rows(&manage::header_rows(k));
        f
    }

    /// What a failed post carries back to the editor (Post/Redirect/Get):
    /// every field but the token, which is a secret and is typed again.
    pub(super) fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut v: Vec<(&'static str, String)> = vec![
            ("name", self.name.clone()),
            ("access_type", self.access_type.clone()),
            ("status", self.status.clone()),
            ("allow_all", self.allow_all.clone()),
            ("expires_at", self.expires_at.clone()),
            ("tz_offset", self.tz_offset.clone()),
            ("version", self.version.clone()),
            ("rate_limit_requests", self.rate_limit_requests.clone()),
            ("rate_limit_window", self.rate_limit_window.clone()),
            ("monthly_quota", self.monthly_quota.clone()),
        ];
        let lists: [(&'static str, &Vec<String>); 8] = [
            ("ip_range", &self.ip_range),
            ("ip_netmask", &self.ip_netmask),
            ("header_name", &self.header_name),
            ("header_value", &self.header_value),
            ("header_exclude", &self.header_exclude),
            ("endpoint_ids", &self.endpoint_ids),
            ("user_ids", &self.user_ids),
            ("team_ids", &self.team_ids),
        ];
        for (name, list) in lists {
            v.extend(list.iter().map(|x| (name, x.clone())));
        }
        v
    }

    pub(super) fn from_pairs(pairs: &[(String, String)]) -> KeyForm {
        serde_html_form::to_string(pairs).ok().and_then(|q| serde_html_form::from_str(&q).ok()).unwrap_or_default()
    }

    pub(super) fn input(&self) -> KeyInput {
        let ids = |v: &[String]| v.iter().filter_map(|s| s.parse().ok()).collect::<Vec<i64>>();
        KeyInput {
            name: self.name.clone(),
            access_type: self.access_type.clone(),
            status: if self.status.is_empty() { "active".into() } else { self.status.clone() },
            ip_filters: self.ip_rows(),
            allow_all_addresses: self.allow_all == "yes",
            expires: ExpiryInput::Local {
                text: self.expires_at.clone(),
                offset_minutes: self.tz_offset.trim().parse().unwrap_or(0),
            },
            headers: self.header_rows(),
            endpoint_ids: ids(&self.endpoint_ids),
            user_ids: ids(&self.user_ids),
            team_ids: ids(&self.team_ids),
            token: Some(self.token.clone()).filter(|t| !t.is_empty()),
            version: self.version.parse().ok(),
            rate_requests: self.rate_limit_requests.clone(),
            rate_window: self.rate_limit_window.clone(),
            monthly_quota: self.monthly_quota.clone(),
        }
    }
}
