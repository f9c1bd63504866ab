package mail

import (
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
)

// LintFinding is one misconfiguration in an HAProxy config.
type LintFinding struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Section string `json:"section"`          // "backend submission_alt"
	Server  string `json:"server,omitempty"` // the server's name
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func (f LintFinding) String() string {
	where := f.Section
	if f.Server != "" {
		where += ", server " + f.Server
	}
	return fmt.Sprintf("%s:%d: %s: %s [%s]", f.File, f.Line, where, f.Message, f.Kind)
}

// LintOptions tune the lint.
type LintOptions struct {
	// PostscreenPorts are the backend ports where postscreen listens; an
	// `option smtpchk` against one is flagged. Empty means port 25.
	PostscreenPorts []int
}

// Lint kinds.
const (
	LintProxyCheck      = "check-on-proxy-port"
	LintSMTPChkPostscrn = "smtpchk-against-postscreen"
)

// haproxyCheckOptions are the `option` keywords that choose a check type;
// the last one in effect wins.
var haproxyCheckOptions = map[string]bool{
	"smtpchk": true, "httpchk": true, "tcp-check": true, "ldap-check": true, "mysql-check": true,
	"pgsql-check": true, "redis-check": true, "ssl-hello-chk": true, "spop-check": true,
}

// proxyView is what a backend or listen section ends up with after its
// defaults.
type proxyView struct {
	checkType     string // "" (a plain connect) or an option name
	defaultServer serverSettings
	tcpCheck      []HAProxyDirective // the tcp-check rules in effect
}

// Lint flags, in every backend and listen section:
//   - a server that sends PROXY (directly or through default-server) and is
//     health-checked on that same port (no `port`/`addr` override, no global
//     `pp2-never-send-local`, no `tcp-check connect ... linger`): each check
//     sends a PROXY v2 LOCAL header and closes with a reset, and Postfix's
//     smtpd (up to 3.10) exits with a fatal on it;
//   - `option smtpchk` against a postscreen port.
func Lint(cfg *HAProxyConfig, opts LintOptions) ([]LintFinding, error) {
	postscreen := opts.PostscreenPorts
	if len(postscreen) == 0 {
		postscreen = []int{25}
	}
	neverLocal := false
	for _, s := range cfg.Sections {
		if s.Kind != "global" {
			continue
		}
		for _, d := range s.Directives {
			if d.Words[0] == "pp2-never-send-local" {
				neverLocal = true
			}
		}
	}
	var out []LintFinding
	for _, s := range cfg.Sections {
		if s.Kind != "backend" && s.Kind != "listen" {
			continue
		}
		chain, err := cfg.chain(s)
		if err != nil {
			return nil, err
		}
		v := resolveProxy(chain)
		for _, d := range s.Directives {
			if d.Words[0] != "server" || len(d.Words) < 3 {
				continue
			}
			srv := v.defaultServer.clone()
			srv.apply(d.Words[3:], d.Line, false)
			f := LintFinding{File: cfg.File, Line: d.Line, Section: s.Title(), Server: d.Words[1]}
			if msg := proxyCheckProblem(srv, v, neverLocal); msg != "" {
				f.Kind, f.Message = LintProxyCheck, msg
				out = append(out, f)
			}
			if v.checkType == "smtpchk" && srv.has("check") {
				port := serverPort(d.Words[2])
				if p, ok := srv["port"]; ok {
					port, _ = strconv.Atoi(p.value)
				}
				if slices.Contains(postscreen, port) {
					f.Kind = LintSMTPChkPostscrn
					f.Message = fmt.Sprintf("option smtpchk checks postscreen (port %d): postscreen's multi-line \"220-\" greeting "+
						"and pre-greet pause fail the check unless the load balancer's address is allowlisted "+
						"(postscreen_access_list); check a plain smtpd port instead (`check port N`)", port)
					out = append(out, f)
				}
			}
		}
	}
	return out, nil
}

// resolveProxy folds the chain's options, default-server and tcp-check
// lines, farthest defaults first.
func resolveProxy(chain []*HAProxySection) proxyView {
	v := proxyView{defaultServer: serverSettings{}}
	for _, s := range chain {
		var rules []HAProxyDirective
		for _, d := range s.Directives {
			w := d.Words
			switch {
			case w[0] == "default-server":
				v.defaultServer.apply(w[1:], d.Line, true)
			case w[0] == "option" && len(w) > 1 && haproxyCheckOptions[w[1]]:
				v.checkType = w[1]
			case w[0] == "no" && len(w) > 2 && w[1] == "option" && w[2] == v.checkType:
				v.checkType = ""
			case w[0] == "tcp-check":
				rules = append(rules, d)
			}
		}
		if len(rules) > 0 {
			v.tcpCheck = rules // a section's own rules replace inherited ones
		}
	}
	return v
}

// proxyCheckProblem explains why srv's checks hit its PROXY port, or
// returns "" when they do not (or are harmless).
func proxyCheckProblem(srv serverSettings, v proxyView, neverLocal bool) string {
	kw := srv.sendsProxy()
	if kw == "" || !srv.has("check") || srv.has("port") || srv.has("addr") || neverLocal {
		return ""
	}
	if v.checkType == "tcp-check" {
		for _, r := range v.tcpCheck {
			if len(r.Words) < 2 || r.Words[1] != "connect" {
				continue
			}
			// The first connect rule opens the check's connection.
			if slices.Contains(r.Words, "linger") || slices.Contains(r.Words, "port") || slices.Contains(r.Words, "addr") {
				return ""
			}
			break
		}
	}
	from := kw
	if s := srv[kw]; s.inherited {
		from = fmt.Sprintf("%s from default-server at line %d", kw, s.line)
	}
	msg := fmt.Sprintf("sends PROXY (%s) and is health-checked on that same port: each check sends a PROXY v2 LOCAL header "+
		"and closes with a reset; Postfix up to 3.10 then fails getpeername() and smtpd exits "+
		"(fatal: smtpd_peer_hostaddr_to_sockaddr ... Servname not supported for ai_socktype), master throttles the service "+
		"and real clients time out. Fix: check a plain port (`check port N` or `addr`), set `pp2-never-send-local` in global, "+
		"or use `option tcp-check` with `tcp-check connect linger` (closes with FIN)", from)
	if srv.has("check-send-proxy") {
		msg += ". check-send-proxy is not a fix: it sends the same PROXY header on the checks"
	}
	return msg
}

// serverPort is the port of a server address ("10.0.0.5:587"), 0 when
// it has none.
func serverPort(addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(p)
	return n
}

// WriteLintText writes findings one per line, then a summary.
func WriteLintText(w io.Writer, file string, findings []LintFinding) {
	for _, f := range findings {
		fmt.Fprintln(w, f)
	}
	if len(findings) == 0 {
		fmt.Fprintf(w, "%s: no PROXY health-check problems found\n", file)
		return
	}
	fmt.Fprintf(w, "%s: %d finding(s)\n", file, len(findings))
}
