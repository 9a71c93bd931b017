//! Microsoft Graph wire types, parsed leniently: unknown fields are ignored, `null` and missing
//! fields become `None` or empty, and open string sets (`methodsRegistered`, enums that may be `""`)
//! stay strings. These types never leave `collect`: they are turned into `snapshot` types here.

use serde::{Deserialize, Deserializer};

use crate::time::GraphTime;

use crate::snapshot::{
    AuditEvent, AuthMethodsPolicy, ConditionalAccessPolicy, GroupMember, MethodConfiguration,
    Registration, User,
};

/// `null` or missing -> `T::default()`.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One response body of a collection: `{"@odata.context": "...", "value": [...],
/// "@odata.nextLink": "..."}`. `value` is `None` when the body has none (or `null`): then it is
/// not a collection page at all, and the importer says what it is instead.
#[derive(Deserialize)]
pub(super) struct Page<T> {
    pub(super) value: Option<Vec<T>>,
    #[serde(rename = "@odata.nextLink", default)]
    pub(super) next_link: Option<String>,
    #[serde(rename = "@odata.context", default)]
    pub(super) context: Option<String>,
}

/// Graph's error body, `{"error": {"code": "...", "message": "..."}}`, as a saved export may hold
/// it in place of a page.
#[derive(Deserialize)]
pub(super) struct ErrorBody {
    pub(super) error: ErrorDetail,
}

#[derive(Deserialize)]
pub(super) struct ErrorDetail {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) code: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) message: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireOrganization {
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) display_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireUser {
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) user_principal_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) display_name: String,
    #[serde(default)]
    pub(super) account_enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) user_type: String,
    #[serde(default)]
    pub(super) created_date_time: Option<GraphTime>,
    #[serde(default)]
    pub(super) on_premises_sync_enabled: Option<bool>,
}

impl From<WireUser> for User {
    fn from(w: WireUser) -> User {
        User {
            id: w.id,
            user_principal_name: w.user_principal_name,
            display_name: w.display_name,
            account_enabled: w.account_enabled,
            user_type: w.user_type,
            created: w.created_date_time,
            on_premises_sync_enabled: w.on_premises_sync_enabled,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireRegistration {
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) user_principal_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) user_display_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) user_type: String,
    #[serde(default)]
    pub(super) is_admin: Option<bool>,
    #[serde(default)]
    pub(super) is_mfa_registered: Option<bool>,
    #[serde(default)]
    pub(super) is_mfa_capable: Option<bool>,
    #[serde(default)]
    pub(super) is_passwordless_capable: Option<bool>,
    #[serde(default)]
    pub(super) last_updated_date_time: Option<GraphTime>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) methods_registered: Vec<String>,
}

impl From<WireRegistration> for Registration {
    fn from(w: WireRegistration) -> Registration {
        Registration {
            id: w.id,
            user_principal_name: w.user_principal_name,
            display_name: w.user_display_name,
            user_type: w.user_type,
            is_admin: w.is_admin,
            is_mfa_registered: w.is_mfa_registered,
            is_mfa_capable: w.is_mfa_capable,
            is_passwordless_capable: w.is_passwordless_capable,
            last_updated: w.last_updated_date_time,
            methods_registered: w.methods_registered,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireMember {
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) user_principal_name: String,
}

impl From<WireMember> for GroupMember {
    fn from(w: WireMember) -> GroupMember {
        GroupMember {
            id: w.id,
            user_principal_name: w.user_principal_name,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireAudit {
    pub(super) id: String,
    pub(super) activity_date_time: GraphTime,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) activity_display_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) result: String,
    #[serde(default)]
    pub(super) initiated_by: Option<WireInitiatedBy>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) target_resources: Vec<WireTarget>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireInitiatedBy {
    #[serde(default)]
    pub(super) user: Option<WireIdentity>,
    #[serde(default)]
    pub(super) app: Option<WireApp>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireIdentity {
    #[serde(default)]
    pub(super) user_principal_name: Option<String>,
    #[serde(default)]
    pub(super) id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireApp {
    #[serde(default)]
    pub(super) display_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireTarget {
    #[serde(default)]
    pub(super) id: Option<String>,
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
    #[serde(default)]
    pub(super) user_principal_name: Option<String>,
}

impl From<WireAudit> for AuditEvent {
    fn from(w: WireAudit) -> AuditEvent {
        let target = w
            .target_resources
            .iter()
            .find(|t| {
                t.kind
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case("user"))
            })
            .or_else(|| w.target_resources.first());
        let initiated_by = w.initiated_by.and_then(|i| {
            i.user
                .and_then(|u| u.user_principal_name.or(u.id))
                .or_else(|| i.app.and_then(|a| a.display_name))
        });
        AuditEvent {
            id: w.id,
            activity_date_time: w.activity_date_time,
            activity: w.activity_display_name,
            result: w.result,
            target_user_id: target.and_then(|t| t.id.clone()),
            target_user_principal_name: target.and_then(|t| t.user_principal_name.clone()),
            initiated_by,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireAuthMethodsPolicy {
    #[serde(default)]
    pub(super) policy_migration_state: Option<String>,
    #[serde(default)]
    pub(super) registration_enforcement: Option<WireRegistrationEnforcement>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) authentication_method_configurations: Vec<WireMethodConfiguration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireRegistrationEnforcement {
    #[serde(default)]
    pub(super) authentication_methods_registration_campaign: Option<WireCampaign>,
}

#[derive(Deserialize)]
pub(super) struct WireCampaign {
    #[serde(default)]
    pub(super) state: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct WireMethodConfiguration {
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) state: String,
}

impl From<WireAuthMethodsPolicy> for AuthMethodsPolicy {
    fn from(w: WireAuthMethodsPolicy) -> AuthMethodsPolicy {
        let mut methods: Vec<MethodConfiguration> = w
            .authentication_method_configurations
            .into_iter()
            .map(|m| MethodConfiguration {
                id: m.id,
                state: m.state,
            })
            .collect();
        methods.sort_by(|a, b| a.id.cmp(&b.id));
        AuthMethodsPolicy {
            methods,
            registration_campaign_state: w
                .registration_enforcement
                .and_then(|r| r.authentication_methods_registration_campaign)
                .and_then(|c| c.state),
            policy_migration_state: w.policy_migration_state,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireConditionalAccessPolicy {
    pub(super) id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) display_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) state: String,
    #[serde(default)]
    pub(super) conditions: Option<WireConditions>,
    #[serde(default)]
    pub(super) grant_controls: Option<WireGrantControls>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireConditions {
    #[serde(default)]
    pub(super) users: Option<WireUserConditions>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireUserConditions {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) include_users: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) exclude_users: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub(super) exclude_groups: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireGrantControls {
    #[serde(default, deserialize_with = "nullable")]
    pub(super) built_in_controls: Vec<String>,
    #[serde(default)]
    pub(super) authentication_strength: Option<WireAuthStrength>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub(super) struct WireAuthStrength {
    #[serde(default)]
    pub(super) display_name: Option<String>,
    #[serde(default)]
    pub(super) id: Option<String>,
}

impl From<WireConditionalAccessPolicy> for ConditionalAccessPolicy {
    fn from(w: WireConditionalAccessPolicy) -> ConditionalAccessPolicy {
        let users = w.conditions.and_then(|c| c.users).unwrap_or_default();
        let grant = w.grant_controls.unwrap_or_default();
        let authentication_strength = grant
            .authentication_strength
            .and_then(|s| s.display_name.or(s.id));
        ConditionalAccessPolicy {
            id: w.id,
            display_name: w.display_name,
            state: w.state,
            requires_mfa: grant
                .built_in_controls
                .iter()
                .any(|c| c.eq_ignore_ascii_case("mfa"))
                || authentication_strength.is_some(),
            authentication_strength,
            include_users: users.include_users,
            exclude_users: users.exclude_users,
            exclude_groups: users.exclude_groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_is_parsed_leniently() {
        let page: Page<WireRegistration> = serde_json::from_str(
            r#"{"@odata.context":"x","value":[{"id":"1","userPrincipalName":"A@B.com","isMfaRegistered":true,
            "methodsRegistered":["microsoftAuthenticatorPush","quantumTotp"],"userPreferredMethodForSecondaryAuthentication":"",
            "newField":{"a":1},"userType":null,"isAdmin":null}]}"#,
        )
        .unwrap();
        let r: Registration = page.value.unwrap().into_iter().next().unwrap().into();
        assert_eq!(
            r.methods_registered,
            ["microsoftAuthenticatorPush", "quantumTotp"]
        );
        assert_eq!(r.user_type, "");
        assert_eq!(r.is_admin, None);
    }

    #[test]
    fn conditional_access_requires_mfa() {
        let p: WireConditionalAccessPolicy = serde_json::from_str(
            r#"{"id":"p","displayName":"Require MFA","state":"enabled","conditions":{"users":{"includeUsers":["All"],"excludeUsers":["bg1"],"excludeGroups":null}},"grantControls":{"operator":"OR","builtInControls":["mfa"],"authenticationStrength":null}}"#,
        )
        .unwrap();
        let p: ConditionalAccessPolicy = p.into();
        assert!(p.requires_mfa);
        assert_eq!(p.exclude_users, ["bg1"]);
        assert!(p.exclude_groups.is_empty());
    }
}
