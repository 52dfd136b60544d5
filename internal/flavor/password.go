package flavor

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// Authentication plugins whose stored hash mmm can check.
const (
	PluginNative       = "mysql_native_password"
	PluginCachingSHA2  = "caching_sha2_password"
	cachingSHA2Prefix  = "$A$"
	cachingSHA2SaltLen = 20
	sha256CryptLen     = 43
)

// PasswordMatches says whether authString (mysql.user.authentication_string
// for the account, with its plugin) is the hash of password. It hashes the
// declared password the way the server does and compares; nothing here
// returns or logs either value. Plugins mmm cannot check (unix_socket,
// ed25519, sha256_password, ...) give PasswordUnknown.
//
// MariaDB's mysql.user view shows an empty plugin for accounts created with
// the old PASSWORD() scheme; those are native hashes too.
func PasswordMatches(plugin, authString, password string) topology.PasswordState {
	switch plugin {
	case PluginNative, "":
		if authString == "" {
			return state(password == "")
		}
		if len(authString) != 41 || authString[0] != '*' {
			return topology.PasswordUnknown
		}
		return state(subtle.ConstantTimeCompare([]byte(strings.ToUpper(authString)), []byte(NativeHash(password))) == 1)
	case PluginCachingSHA2:
		if authString == "" {
			return state(password == "")
		}
		rounds, salt, digest, ok := parseCachingSHA2(authString)
		if !ok {
			return topology.PasswordUnknown
		}
		got := sha256Crypt([]byte(password), salt, rounds)
		return state(subtle.ConstantTimeCompare([]byte(got), digest) == 1)
	}
	return topology.PasswordUnknown
}

func state(match bool) topology.PasswordState {
	if match {
		return topology.PasswordMatch
	}
	return topology.PasswordMismatch
}

// NativeHash is mysql_native_password's stored form: "*" + upper hex of
// SHA1(SHA1(password)).
func NativeHash(password string) string {
	first := sha1.Sum([]byte(password))
	second := sha1.Sum(first[:])
	return "*" + strings.ToUpper(hex.EncodeToString(second[:]))
}

// parseCachingSHA2 splits "$A$005$<20-byte salt><43-char digest>": the
// iteration count is three hex digits in thousands of rounds (MySQL's
// ITERATION_MULTIPLIER), the salt raw bytes.
func parseCachingSHA2(s string) (rounds int, salt, digest []byte, ok bool) {
	if !strings.HasPrefix(s, cachingSHA2Prefix) || len(s) != len(cachingSHA2Prefix)+4+cachingSHA2SaltLen+sha256CryptLen {
		return 0, nil, nil, false
	}
	count := s[3:6]
	if s[6] != '$' {
		return 0, nil, nil, false
	}
	n, err := strconv.ParseUint(count, 16, 16)
	if err != nil || n == 0 {
		return 0, nil, nil, false
	}
	body := s[7:]
	return int(n) * 1000, []byte(body[:cachingSHA2SaltLen]), []byte(body[cachingSHA2SaltLen:]), true
}

const cryptAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// sha256Crypt is Ulrich Drepper's SHA-256 crypt (the "$5$" scheme), returning
// the 43-character encoded digest. MySQL's caching_sha2_password uses it with
// a 20-byte salt (the standard scheme caps salts at 16; MySQL's copy of the
// code raises the cap to 20), so the salt is taken whole here.
func sha256Crypt(key, salt []byte, rounds int) string {
	b := sha256.New()
	b.Write(key)
	b.Write(salt)
	b.Write(key)
	sumB := b.Sum(nil)

	a := sha256.New()
	a.Write(key)
	a.Write(salt)
	n := len(key)
	for ; n > 32; n -= 32 {
		a.Write(sumB)
	}
	a.Write(sumB[:n])
	for n = len(key); n > 0; n >>= 1 {
		if n&1 != 0 {
			a.Write(sumB)
		} else {
			a.Write(key)
		}
	}
	sumA := a.Sum(nil)

	dp := sha256.New()
	for range len(key) {
		dp.Write(key)
	}
	p := repeatTo(dp.Sum(nil), len(key))

	ds := sha256.New()
	for range 16 + int(sumA[0]) {
		ds.Write(salt)
	}
	s := repeatTo(ds.Sum(nil), len(salt))

	c := sumA
	h := sha256.New()
	for i := range rounds {
		h.Reset()
		if i&1 != 0 {
			h.Write(p)
		} else {
			h.Write(c)
		}
		if i%3 != 0 {
			h.Write(s)
		}
		if i%7 != 0 {
			h.Write(p)
		}
		if i&1 != 0 {
			h.Write(c)
		} else {
			h.Write(p)
		}
		c = h.Sum(c[:0])
	}

	var out strings.Builder
	enc := func(b2, b1, b0 byte, n int) {
		w := uint(b2)<<16 | uint(b1)<<8 | uint(b0)
		for range n {
			out.WriteByte(cryptAlphabet[w&0x3f])
			w >>= 6
		}
	}
	for _, t := range [][3]int{
		{0, 10, 20}, {21, 1, 11}, {12, 22, 2}, {3, 13, 23}, {24, 4, 14},
		{15, 25, 5}, {6, 16, 26}, {27, 7, 17}, {18, 28, 8}, {9, 19, 29},
	} {
		enc(c[t[0]], c[t[1]], c[t[2]], 4)
	}
	enc(0, c[31], c[30], 3)
	return out.String()
}

// repeatTo repeats sum to n bytes.
func repeatTo(sum []byte, n int) []byte {
	out := make([]byte, 0, n)
	for len(out) < n {
		out = append(out, sum[:min(len(sum), n-len(out))]...)
	}
	return out
}
