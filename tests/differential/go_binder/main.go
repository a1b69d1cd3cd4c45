// Reader "go-json": Go's net/http and encoding/json (stdlib only), the way a Go service
// binds a request.
//
//   - method: r.Method, or on POST gorilla/handlers' HTTPMethodOverrideHandler: the form
//     value `_method` (query, or a urlencoded body: r.FormValue), else the
//     X-HTTP-Method-Override header (Go canonicalises header names: `X_HTTP_METHOD_OVERRIDE`
//     is another header), honoured only when exactly PUT, PATCH or DELETE;
//   - host: the first X-Forwarded-Host value, else r.Host, without port, lower-case;
//   - path: r.URL.Path, decoded by Go;
//   - members: json.Unmarshal of the body (whatever the method and media type) into a
//     struct of pointers. encoding/json matches member names case-insensitively, with
//     Unicode simple folding (ſ is s, the Kelvin sign is k), and the last match wins: that
//     is the reading this reader exposes. Only the fields that were set are reported.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

type raw = *json.RawMessage

type jwtConfiguration struct {
	Alg    raw `json:"alg,omitempty"`
	Scopes raw `json:"scopes,omitempty"`
}

type refreshToken struct {
	ExpirationType            raw `json:"expiration_type,omitempty"`
	InfiniteIdleTokenLifetime raw `json:"infinite_idle_token_lifetime,omitempty"`
}

type authenticationMethods struct {
	TLSClientAuth           raw `json:"tls_client_auth,omitempty"`
	SelfSignedTLSClientAuth raw `json:"self_signed_tls_client_auth,omitempty"`
}

type client struct {
	IsFirstParty                          raw                    `json:"is_first_party,omitempty"`
	ThirdPartySecurityMode                raw                    `json:"third_party_security_mode,omitempty"`
	DynamicClientRegistrationSecurityMode raw                    `json:"dynamic_client_registration_security_mode,omitempty"`
	DefaultFor                            raw                    `json:"default_for,omitempty"`
	ClientID                              raw                    `json:"client_id,omitempty"`
	Audience                              raw                    `json:"audience,omitempty"`
	GrantTypes                            raw                    `json:"grant_types,omitempty"`
	ResponseTypes                         raw                    `json:"response_types,omitempty"`
	TokenEndpointAuthMethod               raw                    `json:"token_endpoint_auth_method,omitempty"`
	RedirectURIs                          raw                    `json:"redirect_uris,omitempty"`
	AppType                               raw                    `json:"app_type,omitempty"`
	Callbacks                             raw                    `json:"callbacks,omitempty"`
	AllowedOrigins                        raw                    `json:"allowed_origins,omitempty"`
	WebOrigins                            raw                    `json:"web_origins,omitempty"`
	AllowedLogoutURLs                     raw                    `json:"allowed_logout_urls,omitempty"`
	SSO                                   raw                    `json:"sso,omitempty"`
	RequirePAR                            raw                    `json:"require_pushed_authorization_requests,omitempty"`
	Addons                                raw                    `json:"addons,omitempty"`
	OIDCLogout                            raw                    `json:"oidc_logout,omitempty"`
	OIDCBackchannelLogout                 raw                    `json:"oidc_backchannel_logout,omitempty"`
	CrossOriginAuthentication             raw                    `json:"cross_origin_authentication,omitempty"`
	CrossOriginLoc                        raw                    `json:"cross_origin_loc,omitempty"`
	TokenExchange                         raw                    `json:"token_exchange,omitempty"`
	NativeSocialLogin                     raw                    `json:"native_social_login,omitempty"`
	JwtConfiguration                      *jwtConfiguration      `json:"jwt_configuration,omitempty"`
	RefreshToken                          *refreshToken          `json:"refresh_token,omitempty"`
	ClientAuthenticationMethods           *authenticationMethods `json:"client_authentication_methods,omitempty"`
}

// governed.json: only the boolean names are needed here (the struct holds the names).
var booleans = map[string]bool{}

func loadGoverned() {
	path := os.Getenv("GOVERNED")
	if path == "" {
		exe, _ := os.Executable()
		// beside the reader: go_binder/bin/reader -> ../../governed.json, or go_binder/reader
		for _, candidate := range []string{
			filepath.Join(filepath.Dir(exe), "..", "..", "governed.json"),
			filepath.Join(filepath.Dir(exe), "..", "governed.json"),
			"governed.json",
		} {
			if _, err := os.Stat(candidate); err == nil {
				path = candidate
				break
			}
		}
	}
	text, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-json: cannot read governed.json (%v); set GOVERNED\n", err)
		os.Exit(1)
	}
	var governed struct {
		Booleans []string `json:"booleans"`
	}
	if err := json.Unmarshal(text, &governed); err != nil {
		fmt.Fprintf(os.Stderr, "go-json: governed.json: %v\n", err)
		os.Exit(1)
	}
	for _, name := range governed.Booleans {
		booleans[name] = true
	}
}

// the three nested objects the struct binds
var nested = map[string]bool{"jwt_configuration": true, "refresh_token": true, "client_authentication_methods": true}

// coerce: a lenient app reads "true"/"false"/"1"/"0" (any case) as booleans for boolean
// members; the nested objects are coerced member by member.
func coerce(members map[string]interface{}, top bool) {
	for name, value := range members {
		switch v := value.(type) {
		case string:
			if booleans[name] {
				switch strings.ToLower(v) {
				case "true", "1":
					members[name] = true
				case "false", "0":
					members[name] = false
				}
			}
		case map[string]interface{}:
			if top && nested[name] {
				coerce(v, false)
			}
		}
	}
}

func methodOverride(r *http.Request) string {
	if r.Method != http.MethodPost {
		return r.Method
	}
	om := r.FormValue("_method")
	if om == "" {
		om = r.Header.Get("X-HTTP-Method-Override")
	}
	if om == http.MethodPut || om == http.MethodPatch || om == http.MethodDelete {
		return om
	}
	return r.Method
}

func read(r *http.Request) map[string]interface{} {
	method := methodOverride(r)
	host := r.Host
	if forwarded := r.Header.Get("X-Forwarded-Host"); forwarded != "" {
		host = strings.TrimSpace(strings.Split(forwarded, ",")[0])
	}
	if name, _, err := net.SplitHostPort(host); err == nil {
		host = name
	}
	members := map[string]interface{}{}
	var bodyError interface{}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		bodyError = "read: " + err.Error()
	}
	if len(strings.TrimSpace(string(body))) > 0 {
		var bound client
		if err := json.Unmarshal(body, &bound); err != nil {
			bodyError = err.Error()
		} else {
			// the bound struct, its set fields only, as plain JSON values
			out, _ := json.Marshal(bound)
			decoder := json.NewDecoder(bytes.NewReader(out))
			decoder.UseNumber()
			_ = decoder.Decode(&members)
			coerce(members, true)
		}
	}
	return map[string]interface{}{
		"reader":     "go-json",
		"method":     method,
		"path":       r.URL.Path,
		"host":       strings.ToLower(host),
		"members":    members,
		"body_error": bodyError,
	}
}

func handle(w http.ResponseWriter, r *http.Request) {
	var reading map[string]interface{}
	func() {
		defer func() {
			if p := recover(); p != nil {
				reading = map[string]interface{}{
					"reader": "go-json", "method": r.Method, "path": r.URL.Path, "host": "",
					"members": map[string]interface{}{}, "body_error": fmt.Sprintf("reader: %v", p),
				}
			}
		}()
		reading = read(r)
	}()
	_, _ = io.Copy(io.Discard, r.Body)
	out, _ := json.Marshal(reading)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Differential-Reader", "go-json")
	_, _ = w.Write(out)
}

func main() {
	loadGoverned()
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	listener, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening %d\n", listener.Addr().(*net.TCPAddr).Port)
	_ = http.Serve(listener, http.HandlerFunc(handle))
}
