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

/// One response body of a collection: `{"value": [...], "@odata.nextLink": "..."}`.
#[derive(Deserialize)]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub value: Vec<T>,
    #[serde(rename = "@odata.nextLink", default)]
    pub next_link: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireOrganization {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub display_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireUser {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_principal_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub display_name: String,
    #[serde(default)]
    pub account_enabled: Option<bool>,
    #[serde(default, deserialize_with = "nullable")]
    pub user_type: String,
    #[serde(default)]
    pub created_date_time: Option<GraphTime>,
    #[serde(default)]
    pub on_premises_sync_enabled: Option<bool>,
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
pub struct WireRegistration {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_principal_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_display_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_type: String,
    #[serde(default)]
    pub is_admin: Option<bool>,
    #[serde(default)]
    pub is_mfa_registered: Option<bool>,
    #[serde(default)]
    pub is_mfa_capable: Option<bool>,
    #[serde(default)]
    pub is_passwordless_capable: Option<bool>,
    #[serde(default)]
    pub last_updated_date_time: Option<GraphTime>,
    #[serde(default, deserialize_with = "nullable")]
    pub methods_registered: Vec<String>,
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
pub struct WireMember {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub user_principal_name: String,
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
pub struct WireAudit {
    pub id: String,
    pub activity_date_time: GraphTime,
    #[serde(default, deserialize_with = "nullable")]
    pub activity_display_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub result: String,
    #[serde(default)]
    pub initiated_by: Option<WireInitiatedBy>,
    #[serde(default, deserialize_with = "nullable")]
    pub target_resources: Vec<WireTarget>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireInitiatedBy {
    #[serde(default)]
    pub user: Option<WireIdentity>,
    #[serde(default)]
    pub app: Option<WireApp>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireIdentity {
    #[serde(default)]
    pub user_principal_name: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireApp {
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireTarget {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub user_principal_name: Option<String>,
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
pub struct WireAuthMethodsPolicy {
    #[serde(default)]
    pub policy_migration_state: Option<String>,
    #[serde(default)]
    pub registration_enforcement: Option<WireRegistrationEnforcement>,
    #[serde(default, deserialize_with = "nullable")]
    pub authentication_method_configurations: Vec<WireMethodConfiguration>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireRegistrationEnforcement {
    #[serde(default)]
    pub authentication_methods_registration_campaign: Option<WireCampaign>,
}

#[derive(Deserialize)]
pub struct WireCampaign {
    #[serde(default)]
    pub state: Option<String>,
}

#[derive(Deserialize)]
pub struct WireMethodConfiguration {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub state: String,
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
pub struct WireConditionalAccessPolicy {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub display_name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub state: String,
    #[serde(default)]
    pub conditions: Option<WireConditions>,
    #[serde(default)]
    pub grant_controls: Option<WireGrantControls>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireConditions {
    #[serde(default)]
    pub users: Option<WireUserConditions>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireUserConditions {
    #[serde(default, deserialize_with = "nullable")]
    pub include_users: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub exclude_users: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub exclude_groups: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireGrantControls {
    #[serde(default, deserialize_with = "nullable")]
    pub built_in_controls: Vec<String>,
    #[serde(default)]
    pub authentication_strength: Option<WireAuthStrength>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireAuthStrength {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
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
        let r: Registration = page.value.into_iter().next().unwrap().into();
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
