package api

import (
	"encoding/xml"
	"net/http"
	"strings"

	"github.com/heraldmq/herald/internal/vcd"
)

// Legacy media types (VCD-COMPAT §3).
const (
	mtSession   = "application/vnd.vmware.vcloud.session+xml"
	mtOrgList   = "application/vnd.vmware.vcloud.orgList+xml"
	mtOrg       = "application/vnd.vmware.vcloud.org+xml"
	mtQueryList = "application/vnd.vmware.vcloud.query.queryList+xml"
	mtTasksList = "application/vnd.vmware.vcloud.tasksList+xml"
)

// link is a legacy Link element; its JSON form is used by the legacy JSON variants.
type link struct {
	Rel  string `xml:"rel,attr" json:"rel"`
	Href string `xml:"href,attr" json:"href"`
	Name string `xml:"name,attr,omitempty" json:"name,omitempty"`
	Type string `xml:"type,attr,omitempty" json:"type,omitempty"`
}

// jsonType turns a legacy +xml media type into its +json twin for the JSON variants.
func jsonType(mt string) string {
	if s, ok := strings.CutSuffix(mt, "+xml"); ok {
		return s + "+json"
	}
	return mt
}

func jsonLinks(ls []link) []link {
	out := make([]link, len(ls))
	for i, l := range ls {
		l.Type = jsonType(l.Type)
		out[i] = l
	}
	return out
}

// supportedVersionsXML is the body of GET /api/versions (VCD-COMPAT §3.1).
type supportedVersionsXML struct {
	XMLName     xml.Name         `xml:"http://www.vmware.com/vcloud/versions SupportedVersions"`
	VersionInfo []versionInfoXML `xml:"VersionInfo"`
}

type versionInfoXML struct {
	Deprecated       bool   `xml:"deprecated,attr"`
	Version          string `xml:"Version"`
	LoginURL         string `xml:"LoginUrl"`
	ProviderLoginURL string `xml:"ProviderLoginUrl,omitempty"`
}

// versions serves GET /api/versions: no authentication, version ignored, XML always,
// one VersionInfo per version in ascending order.
func (a *API) versions(w http.ResponseWriter, r *http.Request, c *call) error {
	base := a.baseURL(r)
	var body supportedVersionsXML
	for _, v := range apiVersions {
		vi := versionInfoXML{Deprecated: v.Deprecated, Version: v.Version}
		// Below 36.0 clients log in at /api/sessions; from 36.0 at the OpenAPI login.
		if versionMajor(v.Version) < 36 {
			vi.LoginURL = base + "/api/sessions"
		} else {
			vi.LoginURL = base + cloudAPI + "/sessions"
			vi.ProviderLoginURL = base + cloudAPI + "/sessions/provider"
		}
		body.VersionInfo = append(body.VersionInfo, vi)
	}
	b, err := xml.MarshalIndent(body, "", "  ")
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/*+xml;version="+c.version)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append([]byte(xml.Header), b...))
	return nil
}

// sessionXML is the legacy Session (VCD-COMPAT §3.3).
type sessionXML struct {
	XMLName    xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 Session" json:"-"`
	User       string   `xml:"user,attr" json:"user"`
	Org        string   `xml:"org,attr" json:"org"`
	Roles      string   `xml:"roles,attr" json:"roles"`
	UserID     string   `xml:"userId,attr" json:"userId"`
	LocationID string   `xml:"locationId,attr" json:"locationId"`
	Href       string   `xml:"href,attr" json:"href"`
	Type       string   `xml:"type,attr" json:"type"`
	Link       []link   `xml:"Link" json:"link"`
}

// legacySessionBody builds the Session of p: exactly one orgList link and one org link,
// the session's org, and only links to resources herald serves.
func (a *API) legacySessionBody(r *http.Request, p vcd.Principal, site vcd.Site) sessionXML {
	base := a.baseURL(r)
	return sessionXML{
		User: p.UserName, Org: p.OrgName, Roles: p.Role,
		UserID:     vcd.URN(vcd.KindUser, p.UserID),
		LocationID: p.OrgID + "@" + site.ID,
		Href:       base + "/api/session", Type: mtSession,
		Link: []link{
			{Rel: "down", Href: base + "/api/org/", Type: mtOrgList},
			{Rel: "remove", Href: base + "/api/session"},
			{Rel: "down", Href: base + "/api/org/" + p.OrgID, Name: p.OrgName, Type: mtOrg},
			{Rel: "down", Href: base + "/api/query", Type: mtQueryList},
			{Rel: "openapi", Href: base + "/cloudapi/", Type: "application/json"},
		},
	}
}

func (a *API) writeLegacySession(w http.ResponseWriter, r *http.Request, c *call, p vcd.Principal) error {
	site, err := a.store.Site(r.Context())
	if err != nil {
		return err
	}
	s := a.legacySessionBody(r, p, site)
	js := s
	js.Type = jsonType(s.Type)
	js.Link = jsonLinks(s.Link)
	return writeLegacy(w, c, "session", s, js)
}

// legacyLogin serves POST /api/sessions (VCD-COMPAT §3.2).
func (a *API) legacyLogin(w http.ResponseWriter, r *http.Request, c *call) (err error) {
	defer a.observeLogin(LoginLegacy, &err)
	if err := a.checkLoginRate(w, r); err != nil {
		return err
	}
	name, password, err := basicCredentials(r)
	if err != nil {
		return err
	}
	res, err := a.auth.LegacyLogin(r.Context(), name, password, clientIP(r))
	if err != nil {
		a.loginFailed(r, err)
		return loginError(err)
	}
	a.loggedIn(r, res.Principal)
	w.Header().Set(HeaderLegacyToken, res.LegacyToken)
	setTokenHeaders(w, res)
	return a.writeLegacySession(w, r, c, res.Principal)
}

func (a *API) legacySession(w http.ResponseWriter, r *http.Request, c *call) error {
	return a.writeLegacySession(w, r, c, c.p)
}

func (a *API) legacyLogout(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := a.auth.Logout(r.Context(), c.p.SessionID); err != nil {
		return err
	}
	a.loggedOut(r, c.p.UserID, c.p.OrgID, c.p.UserID)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// orgListXML is the legacy OrgList (VCD-COMPAT §3.4).
type orgListXML struct {
	XMLName xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 OrgList" json:"-"`
	Href    string   `xml:"href,attr" json:"href"`
	Type    string   `xml:"type,attr" json:"type"`
	Org     []orgRef `xml:"Org" json:"org"`
}

type orgRef struct {
	Href string `xml:"href,attr" json:"href"`
	Name string `xml:"name,attr" json:"name"`
	Type string `xml:"type,attr" json:"type"`
}

// legacyOrgList serves GET /api/org and /api/org/: a sysadmin sees every org, others
// their own.
func (a *API) legacyOrgList(w http.ResponseWriter, r *http.Request, c *call) error {
	orgs, err := a.visibleOrgs(r, c.p)
	if err != nil {
		return err
	}
	base := a.baseURL(r)
	body := orgListXML{Href: base + "/api/org/", Type: mtOrgList, Org: []orgRef{}}
	for _, o := range orgs {
		body.Org = append(body.Org, orgRef{Href: base + "/api/org/" + o.ID, Name: o.Name, Type: mtOrg})
	}
	js := body
	js.Type = jsonType(body.Type)
	js.Org = make([]orgRef, len(body.Org))
	for i, o := range body.Org {
		o.Type = jsonType(o.Type)
		js.Org[i] = o
	}
	return writeLegacy(w, c, "orgList", body, js)
}

// orgXML is the legacy Org.
type orgXML struct {
	XMLName     xml.Name `xml:"http://www.vmware.com/vcloud/v1.5 Org" json:"-"`
	Name        string   `xml:"name,attr" json:"name"`
	ID          string   `xml:"id,attr" json:"id"`
	Href        string   `xml:"href,attr" json:"href"`
	Type        string   `xml:"type,attr" json:"type"`
	Link        []link   `xml:"Link" json:"link"`
	Description string   `xml:"Description,omitempty" json:"description,omitempty"`
	FullName    string   `xml:"FullName" json:"fullName"`
}

// legacyOrg serves GET /api/org/{uuid}; an org the caller may not see is 403.
func (a *API) legacyOrg(w http.ResponseWriter, r *http.Request, c *call) error {
	id, ok := vcd.ParseID(vcd.KindOrg, r.PathValue("id"))
	if !ok || !vcd.Can(c.p, vcd.ActOrgRead, id, "") {
		return errForbidden
	}
	o, err := a.store.Org(r.Context(), id)
	if err != nil {
		return forbiddenIfMissing(err)
	}
	base := a.baseURL(r)
	body := orgXML{Name: o.Name, ID: vcd.URN(vcd.KindOrg, o.ID), Href: base + "/api/org/" + o.ID, Type: mtOrg,
		Link:        []link{{Rel: "down", Href: base + "/api/tasksList/" + o.ID, Type: mtTasksList}},
		Description: o.Description, FullName: o.DisplayName}
	js := body
	js.Type = jsonType(body.Type)
	js.Link = jsonLinks(body.Link)
	return writeLegacy(w, c, "org", body, js)
}

// visibleOrgs returns the orgs p may see, sorted by name.
func (a *API) visibleOrgs(r *http.Request, p vcd.Principal) ([]vcd.Org, error) {
	if p.IsSysAdmin() {
		return a.store.Orgs(r.Context())
	}
	if !vcd.Can(p, vcd.ActOrgRead, p.OrgID, "") {
		return nil, nil
	}
	o, err := a.store.Org(r.Context(), p.OrgID)
	if err != nil {
		return nil, forbiddenIfMissing(err)
	}
	return []vcd.Org{o}, nil
}
