package importer

import (
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"
)

// Render writes f as HCL, formatted as `mmm fmt` formats (hclwrite.Format),
// so that fmt leaves it unchanged.
func Render(f *File) []byte {
	out := hclwrite.NewEmptyFile()
	root := out.Body()
	for _, line := range f.Header {
		comment(root, line)
	}
	if len(f.Header) > 0 {
		root.AppendNewline()
	}

	cl := root.AppendNewBlock("cluster", []string{f.Cluster}).Body()
	setString(cl, "flavor", f.Flavor)
	setString(cl, "active_master_role", f.ActiveMasterRole)

	root.AppendNewline()
	def := root.AppendNewBlock("defaults", nil).Body()
	if f.Defaults.Port != 0 {
		def.SetAttributeValue("port", cty.NumberIntVal(int64(f.Defaults.Port)))
	}
	setString(def, "interface", f.Defaults.Interface)
	admin := def.AppendNewBlock("admin", nil).Body()
	setString(admin, "user", f.Defaults.AdminUser)
	setEnv(admin, "password", f.Defaults.AdminEnv)

	for _, h := range f.Hosts {
		root.AppendNewline()
		if h.Comment != "" {
			comment(root, h.Comment)
		}
		b := root.AppendNewBlock("host", []string{h.Name}).Body()
		setString(b, "address", h.Address)
		if h.Port != 0 {
			b.SetAttributeValue("port", cty.NumberIntVal(int64(h.Port)))
		}
		setString(b, "mode", h.Mode)
		setString(b, "peer", h.Peer)
		if h.ServerID != 0 {
			b.SetAttributeValue("server_id", cty.NumberUIntVal(uint64(h.ServerID)))
		}
		setString(b, "interface", h.Interface)
	}

	if r := f.Replication; r.User != "" {
		root.AppendNewline()
		b := root.AppendNewBlock("replication", nil).Body()
		setString(b, "user", r.User)
		if r.SemiSync {
			b.SetAttributeValue("semi_sync", cty.True)
		}
		setDuration(b, "semi_sync_timeout", r.SemiSyncTimeout)
		setDuration(b, "connect_retry", r.ConnectRetry)
		setDuration(b, "heartbeat", r.Heartbeat)
		if r.SSL {
			b.SetAttributeValue("ssl", cty.True)
		}
	}

	for _, u := range f.Users {
		root.AppendNewline()
		if u.Comment != "" {
			comment(root, u.Comment)
		}
		b := root.AppendNewBlock("user", []string{u.Label}).Body()
		if u.Name != u.Label {
			setString(b, "name", u.Name)
		}
		setString(b, "host", u.Host)
		setEnv(b, "password", u.PasswordEnv)
		for _, g := range u.Grants {
			gb := b.AppendNewBlock("grant", []string{g.On}).Body()
			gb.SetAttributeValue("privileges", stringList(g.Privileges))
			if g.WithGrantOption {
				gb.SetAttributeValue("with_grant_option", cty.True)
			}
		}
	}

	for _, r := range f.Roles {
		root.AppendNewline()
		b := root.AppendNewBlock("role", []string{r.Name}).Body()
		setString(b, "mode", r.Mode)
		b.SetAttributeValue("hosts", stringList(r.Hosts))
		b.SetAttributeValue("ips", stringList(r.IPs))
		setString(b, "prefer", r.Prefer)
	}

	if a := f.Agent; a != nil {
		root.AppendNewline()
		b := root.AppendNewBlock("agent", nil).Body()
		if a.Port != 0 {
			b.SetAttributeValue("port", cty.NumberIntVal(int64(a.Port)))
		}
		setEnv(b, "token", a.TokenEnv)
		setString(b, "tls_cert", a.TLSCert)
		setString(b, "tls_key", a.TLSKey)
	}

	if m := f.Monitor; m != nil {
		root.AppendNewline()
		b := root.AppendNewBlock("monitor", nil).Body()
		setString(b, "listen", m.Listen)
		setEnv(b, "token", m.TokenEnv)
		setDuration(b, "check_period", m.CheckPeriod)
		setDuration(b, "trap_period", m.TrapPeriod)
		if m.AutoSetOnline != nil {
			b.SetAttributeValue("auto_set_online", cty.StringVal(FormatDuration(*m.AutoSetOnline)))
		}
		if m.FlapCount != 0 {
			b.SetAttributeValue("flap_count", cty.NumberIntVal(int64(m.FlapCount)))
		}
		setDuration(b, "flap_duration", m.FlapDuration)
		if len(m.PingIPs) > 0 {
			b.SetAttributeValue("ping_ips", stringList(m.PingIPs))
		}
	}

	for _, c := range f.Checks {
		root.AppendNewline()
		b := root.AppendNewBlock("check", []string{c.Name}).Body()
		setDuration(b, "period", c.Period)
		setDuration(b, "trap_period", c.TrapPeriod)
		setDuration(b, "timeout", c.Timeout)
		if c.MaxBacklog != 0 {
			b.SetAttributeValue("max_backlog", cty.NumberIntVal(int64(c.MaxBacklog)))
		}
	}
	return hclwrite.Format(out.Bytes())
}

func comment(b *hclwrite.Body, line string) {
	text := "#"
	if line != "" {
		text += " " + strings.ReplaceAll(line, "\n", " ")
	}
	b.AppendUnstructuredTokens(hclwrite.Tokens{
		{Type: hclsyntax.TokenComment, Bytes: []byte(text + "\n")},
	})
}

func setString(b *hclwrite.Body, name, v string) {
	if v != "" {
		b.SetAttributeValue(name, cty.StringVal(v))
	}
}

// setEnv writes name = env("VAR").
func setEnv(b *hclwrite.Body, name, envVar string) {
	if envVar == "" {
		return
	}
	b.SetAttributeRaw(name, hclwrite.TokensForFunctionCall("env", hclwrite.TokensForValue(cty.StringVal(envVar))))
}

func setDuration(b *hclwrite.Body, name string, d time.Duration) {
	if d > 0 {
		b.SetAttributeValue(name, cty.StringVal(FormatDuration(d)))
	}
}

func stringList(vs []string) cty.Value {
	if len(vs) == 0 {
		return cty.ListValEmpty(cty.String)
	}
	vals := make([]cty.Value, len(vs))
	for i, v := range vs {
		vals[i] = cty.StringVal(v)
	}
	return cty.ListVal(vals)
}

// FormatDuration writes d the way people write durations in topology files,
// in the largest unit that divides it: "1h", "90s", "250ms" (time.Duration's
// own String gives "1h0m0s"). Minutes stay seconds: MMM's values are seconds.
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d%time.Millisecond == 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
	return d.String()
}
