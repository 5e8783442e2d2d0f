package api

// Path prefixes.
const (
	cloudAPI = "/cloudapi/1.0.0"
)

// routes registers every endpoint. Go 1.22 patterns: the more specific pattern wins, so
// /sessions/current beats /sessions/{id}; sessionByID refuses "provider" itself.
func (a *API) routes() {
	// §3 legacy API.
	a.route("GET /api/versions", optIgnoreVersion, a.versions)
	a.route("POST /api/sessions", 0, a.legacyLogin)
	a.route("GET /api/session", optAuth, a.legacySession)
	a.route("DELETE /api/session", optAuth, a.legacyLogout)
	a.route("GET /api/org", optAuth, a.legacyOrgList)
	a.route("GET /api/org/{$}", optAuth, a.legacyOrgList)
	a.route("GET /api/org/{id}", optAuth, a.legacyOrg)

	// §8.3 external events, §8.4 tasks, §10.2 task queries.
	a.route("POST /api/admin/org/{id}/events", optAuth, a.postEvent)
	a.route("POST /api/tasksList/{org}", optAuth, a.createTask)
	a.route("GET /api/tasksList/{org}", optAuth, a.listOrgTasks)
	a.route("GET /api/task/{id}", optAuth, a.getTask)
	a.route("PUT /api/task/{id}", optAuth, a.updateTask)
	a.route("POST /api/task/{id}/action/cancel", optAuth, a.cancelTask)
	a.route("GET /api/query", optAuth, a.queryTasks)

	// §2 sessions.
	a.route("POST "+cloudAPI+"/sessions", 0, a.login(false))
	a.route("POST "+cloudAPI+"/sessions/provider", 0, a.login(true))
	a.route("GET "+cloudAPI+"/sessions", optAuth, a.listSessions)
	a.route("GET "+cloudAPI+"/sessions/current", optAuth, a.currentSession)
	a.route("DELETE "+cloudAPI+"/sessions/current", optAuth, a.deleteCurrentSession)
	a.route("GET "+cloudAPI+"/sessions/{id}", optAuth, a.getSession)
	a.route("DELETE "+cloudAPI+"/sessions/{id}", optAuth, a.deleteSession)

	// §4 OAuth and API tokens.
	a.route("POST /oauth/tenant/{org}/token", optIgnoreVersion, a.oauthToken(false))
	a.route("POST /oauth/provider/token", optIgnoreVersion, a.oauthToken(true))
	a.route("POST /oauth/tenant/{org}/register", optAuth|optIgnoreVersion, a.oauthRegister(false))
	a.route("POST /oauth/provider/register", optAuth|optIgnoreVersion, a.oauthRegister(true))
	a.route("GET "+cloudAPI+"/tokens", optAuth, a.listTokens)
	a.route("POST "+cloudAPI+"/tokens", optAuth, a.createToken)
	a.route("GET "+cloudAPI+"/tokens/{id}", optAuth, a.getToken)
	a.route("DELETE "+cloudAPI+"/tokens/{id}", optAuth, a.deleteToken)

	// §5 directory.
	a.route("GET "+cloudAPI+"/orgs", optAuth, a.listOrgs)
	a.route("POST "+cloudAPI+"/orgs", optAuth, a.createOrg)
	a.route("GET "+cloudAPI+"/orgs/{id}", optAuth, a.getOrg)
	a.route("PUT "+cloudAPI+"/orgs/{id}", optAuth, a.updateOrg)
	a.route("DELETE "+cloudAPI+"/orgs/{id}", optAuth, a.deleteOrg)

	a.route("GET "+cloudAPI+"/users", optAuth, a.listUsers)
	a.route("POST "+cloudAPI+"/users", optAuth, a.createUser)
	a.route("GET "+cloudAPI+"/users/{id}", optAuth, a.getUser)
	a.route("PUT "+cloudAPI+"/users/{id}", optAuth, a.updateUser)
	a.route("DELETE "+cloudAPI+"/users/{id}", optAuth, a.deleteUser)

	a.route("GET "+cloudAPI+"/roles", optAuth, a.listRoles)
	a.route("POST "+cloudAPI+"/roles", optAuth, a.rolesReadOnly)
	a.route("GET "+cloudAPI+"/roles/{id}", optAuth, a.getRole)
	a.route("PUT "+cloudAPI+"/roles/{id}", optAuth, a.rolesReadOnly)
	a.route("DELETE "+cloudAPI+"/roles/{id}", optAuth, a.rolesReadOnly)

	// §6.3 MQTT service accounts.
	a.route("GET "+heraldAPI+"/serviceAccounts", optAuth, a.listServiceAccounts)
	a.route("POST "+heraldAPI+"/serviceAccounts", optAuth, a.createServiceAccount)
	a.route("POST "+heraldAPI+"/serviceAccounts/session", 0, a.serviceSession)
	a.route("GET "+heraldAPI+"/serviceAccounts/{id}", optAuth, a.getServiceAccount)
	a.route("PUT "+heraldAPI+"/serviceAccounts/{id}", optAuth, a.updateServiceAccount)
	a.route("DELETE "+heraldAPI+"/serviceAccounts/{id}", optAuth, a.deleteServiceAccount)
	a.route("POST "+heraldAPI+"/serviceAccounts/{id}/secret", optAuth, a.rotateServiceSecret)

	// §9 metrics: settings, vApp inventory, samples, current usage.
	a.route("GET "+heraldAPI+"/settings/metrics", optAuth, a.getMetricsSettings)
	a.route("PUT "+heraldAPI+"/settings/metrics", optAuth, a.putMetricsSettings)
	a.route("GET "+heraldAPI+"/vApps", optAuth, a.listVApps)
	a.route("POST "+heraldAPI+"/vApps", optAuth, a.createVApp)
	a.route("GET "+heraldAPI+"/vApps/{id}", optAuth, a.getVApp)
	a.route("DELETE "+heraldAPI+"/vApps/{id}", optAuth, a.deleteVApp)
	a.route("POST "+heraldAPI+"/vApps/{id}/vms", optAuth, a.addVM)
	a.route("DELETE "+heraldAPI+"/vApps/{id}/vms/{vmId}", optAuth, a.deleteVM)
	a.route("POST "+heraldAPI+"/metrics/samples", optAuth, a.postSamples)
	a.route("GET /api/vApp/{vm}/metrics/current", optAuth, a.currentUsage)
	a.route("POST /api/vApp/{vm}/metrics/current", optAuth, a.currentUsage)

	// §10.1 audit trail.
	a.route("GET "+cloudAPI+"/auditTrail", optAuth, a.listAuditTrail)
}
