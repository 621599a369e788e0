//! The permission catalogue: one permission per thing a user can see or do, covering every
//! module of the operator manual. Every resolver checks one of these.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Who may hold a permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PermissionScope {
    /// Only the platform operator.
    Platform,
    /// Sub-accounts of an enterprise (and the operator).
    Enterprise,
}

macro_rules! catalogue {
    ($( $variant:ident = $id:literal, $scope:ident, $module:literal, $en:literal, $zh:literal; )*) => {
        /// A permission of the catalogue. Its stable id (e.g. `routes.edit`) is what events store.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum Permission {
            $(
                #[doc = $en]
                #[serde(rename = $id)]
                $variant,
            )*
        }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),*];

            /// The stable id.
            pub fn id(self) -> &'static str {
                match self { $(Permission::$variant => $id),* }
            }

            /// Who may hold it.
            pub fn scope(self) -> PermissionScope {
                match self { $(Permission::$variant => PermissionScope::$scope),* }
            }

            /// The manual's module it belongs to (e.g. `cti`, `crm`).
            pub fn module(self) -> &'static str {
                match self { $(Permission::$variant => $module),* }
            }

            /// English label.
            pub fn label_en(self) -> &'static str {
                match self { $(Permission::$variant => $en),* }
            }

            /// Chinese label, as in the manual.
            pub fn label_zh(self) -> &'static str {
                match self { $(Permission::$variant => $zh),* }
            }

            /// Looks a permission up by id.
            pub fn from_id(id: &str) -> Option<Permission> {
                match id { $($id => Some(Permission::$variant),)* _ => None }
            }
        }
    };
}

catalogue! {
    PlatformEnterprises = "platform.enterprises", Platform, "platform", "Manage enterprises", "企业管理";
    PlatformTrunks = "platform.trunks", Platform, "platform", "Manage trunks and numbers", "中继与号码管理";
    PlatformRoutes = "platform.routes", Platform, "platform", "Create and delete inbound routes", "呼入路由新增删除";
    PlatformVoiceReview = "platform.voice_review", Platform, "platform", "Review uploaded recordings", "语音审核";
    PlatformRates = "platform.rates", Platform, "platform", "Manage rates and recharges", "资费与充值管理";
    RoutesRead = "routes.read", Enterprise, "cti", "View inbound routes", "查看呼入路由";
    RoutesEdit = "routes.edit", Enterprise, "cti", "Edit inbound routes", "编辑呼入路由";
    OutboundTasksRead = "outbound_tasks.read", Enterprise, "cti", "View outbound tasks", "查看外呼任务";
    OutboundTasksManage = "outbound_tasks.manage", Enterprise, "cti", "Manage outbound tasks and number libraries", "管理外呼任务与号码库";
    OutboundStatsRead = "outbound_stats.read", Enterprise, "cti", "View outbound statistics", "查看外呼统计";
    IvrRead = "ivr.read", Enterprise, "cti", "View voice navigation flows", "查看语音导航";
    IvrManage = "ivr.manage", Enterprise, "cti", "Manage voice navigation flows", "管理语音导航";
    ExtensionsRead = "extensions.read", Enterprise, "cti", "View extensions", "查看分机";
    ExtensionsManage = "extensions.manage", Enterprise, "cti", "Edit extensions", "编辑分机";
    ExtensionsCredentials = "extensions.credentials", Enterprise, "cti", "Issue new SIP passwords for extensions", "重置分机注册密码";
    QueuesRead = "queues.read", Enterprise, "cti", "View queues", "查看队列";
    QueuesManage = "queues.manage", Enterprise, "cti", "Manage queues", "管理队列";
    CallRecordsRead = "call_records.read", Enterprise, "cti", "View call records", "查看通话记录";
    CallRecordsExport = "call_records.export", Enterprise, "cti", "Export call records and recordings", "导出通话记录与录音";
    RecordingsListen = "recordings.listen", Enterprise, "cti", "Listen to and download recordings", "试听与下载录音";
    VoicemailRead = "voicemail.read", Enterprise, "cti", "View voicemail", "查看留言箱";
    VoiceLibraryRead = "voice_library.read", Enterprise, "cti", "View the voice library", "查看语音库";
    VoiceLibraryManage = "voice_library.manage", Enterprise, "cti", "Upload and delete recordings", "上传与删除语音";
    BillingRead = "billing.read", Enterprise, "account", "View balance, recharges and bills", "查看账户、充值与账单";
    BillingExport = "billing.export", Enterprise, "account", "Download bills", "下载账单";
    CrmCustomersRead = "crm.customers.read", Enterprise, "crm", "View customers", "查看客户资料";
    CrmCustomersManage = "crm.customers.manage", Enterprise, "crm", "Create, import, export and delete customers", "管理客户资料";
    CrmBusinessRead = "crm.business.read", Enterprise, "crm", "View business records", "查看业务资料";
    CrmBusinessManage = "crm.business.manage", Enterprise, "crm", "Export and delete business records", "管理业务资料";
    CrmSettings = "crm.settings", Enterprise, "crm", "Edit CRM fields, detail pages and access", "客户资料设置";
    SubAccountsRead = "sub_accounts.read", Enterprise, "accounts", "View sub-accounts", "查看子账号";
    SubAccountsManage = "sub_accounts.manage", Enterprise, "accounts", "Manage sub-accounts and their permissions", "管理子账号与权限";
    RolesRead = "roles.read", Enterprise, "accounts", "View roles", "查看角色";
    RolesManage = "roles.manage", Enterprise, "accounts", "Manage roles", "管理角色";
    AnnouncementsManage = "announcements.manage", Enterprise, "accounts", "Manage announcements", "管理公告";
    AuditLogRead = "audit_log.read", Enterprise, "accounts", "View the audit log", "查看日志";
    ReportsRead = "reports.read", Enterprise, "reports", "View statistics reports", "查看统计报表";
    AgentWorkstation = "agent.workstation", Enterprise, "agent", "Use the agent workstation", "坐席工作台";
    SupervisorMonitor = "supervisor.monitor", Enterprise, "agent", "Watch queues and agents", "班长监控";
    SupervisorIntervene = "supervisor.intervene", Enterprise, "agent", "Listen, whisper, barge, hang up, take over", "班长干预";
    FilesRead = "files.read", Enterprise, "files", "View and download files", "查看与下载文件";
    FilesManage = "files.manage", Enterprise, "files", "Upload, import and delete files", "上传、导入与删除文件";
}

impl Permission {
    /// Every permission an enterprise sub-account can hold.
    pub fn enterprise_all() -> BTreeSet<Permission> {
        Self::ALL
            .iter()
            .copied()
            .filter(|p| p.scope() == PermissionScope::Enterprise)
            .collect()
    }
}

/// Where a sub-account's permissions come from (manual §5.1.1 "应用角色权限模块").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum PermissionSetting {
    /// The permissions of the account's role, following its changes.
    FollowRole,
    /// An explicit set, edited per account.
    Custom {
        /// The permissions.
        permissions: BTreeSet<Permission>,
    },
}

impl Default for PermissionSetting {
    fn default() -> Self {
        PermissionSetting::Custom {
            permissions: BTreeSet::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let mut seen = BTreeSet::new();
        for p in Permission::ALL {
            assert!(seen.insert(p.id()), "duplicate id {}", p.id());
            assert_eq!(Permission::from_id(p.id()), Some(*p));
            let json = serde_json::to_string(p).expect("a unit variant serializes");
            assert_eq!(json, format!("\"{}\"", p.id()));
        }
    }

    #[test]
    fn every_manual_module_is_covered() {
        let modules: BTreeSet<&str> = Permission::ALL.iter().map(|p| p.module()).collect();
        for m in [
            "platform", "cti", "account", "crm", "accounts", "reports", "agent", "files",
        ] {
            assert!(modules.contains(m), "module {m} has no permission");
        }
    }
}
