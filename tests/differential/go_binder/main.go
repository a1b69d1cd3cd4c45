// Reader "go-json": Go's net/http and encoding/json, the way a Go service binds a request.
//
//   - method: r.Method, or on POST the X-HTTP-Method-Override header (PUT, PATCH, DELETE),
//     as gorilla/handlers' HTTPMethodOverrideHandler does;
//   - host: the first X-Forwarded-Host value, else r.Host (services behind a proxy);
//   - path: r.URL.Path, decoded by Go;
//   - members: json.Unmarshal into a struct. encoding/json matches member names
//     case-insensitively, with Unicode simple folding (ſ is s, the Kelvin sign is k), and
//     the last match wins: that is the reading this reader exposes.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
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

func read(w http.ResponseWriter, r *http.Request) {
	method := r.Method
	if override := strings.ToUpper(r.Header.Get("X-HTTP-Method-Override")); method == http.MethodPost &&
		(override == http.MethodPut || override == http.MethodPatch || override == http.MethodDelete) {
		method = override
	}
	host := r.Host
	if forwarded := r.Header.Get("X-Forwarded-Host"); forwarded != "" {
		host = strings.TrimSpace(strings.Split(forwarded, ",")[0])
	}
	if name, _, err := net.SplitHostPort(host); err == nil {
		host = name
	}
	reading := map[string]interface{}{
		"reader":     "go-json",
		"method":     method,
		"path":       r.URL.Path,
		"host":       strings.ToLower(host),
		"members":    map[string]interface{}{},
		"body_error": nil,
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if len(body) > 0 {
		var bound client
		if err := json.Unmarshal(body, &bound); err != nil {
			reading["body_error"] = err.Error()
		} else {
			reading["members"] = bound
		}
	}
	out, _ := json.Marshal(reading)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Differential-Reader", "go-json")
	_, _ = w.Write(out)
}

func main() {
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
	_ = http.Serve(listener, http.HandlerFunc(read))
}
