package flavor

import (
	"encoding/hex"
	"testing"

	"github.com/mysql-mmm/mmm/internal/topology"
)

// SHA-256 crypt vectors made with `openssl passwd -5 -salt SALT KEY` check the
// algorithm with salts the standard scheme allows (up to 16 bytes); the
// caching_sha2 vector in TestPasswordMatches checks MySQL's 20-byte salt.
func TestSHA256Crypt(t *testing.T) {
	tests := []struct {
		key, salt string
		rounds    int
		want      string
	}{
		{"Hello world!", "saltstring", 5000, "5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"Hello world!", "saltstringsaltst", 5000, "a5C8Ofk71MUIoKve2QuP9FMl.dwNgseF5tR1LGAL7iB"},
		{"a password longer than thirty-two bytes, to cover the loop", "x", 5000, "ZpMgWf/xsK/2v3JHu6dGMWHpoem9rRPyyBEAk6OBEy9"},
		{"This is just a test", "toolongsaltstrin", 5000, "Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5"},
	}
	for _, tt := range tests {
		if got := sha256Crypt([]byte(tt.key), []byte(tt.salt), tt.rounds); got != tt.want {
			t.Errorf("sha256Crypt(%q, %q, %d) = %s, want %s", tt.key, tt.salt, tt.rounds, got, tt.want)
		}
	}
}

func TestPasswordMatches(t *testing.T) {
	// authentication_string of CREATE USER ... IDENTIFIED BY 'secret' on MySQL 8
	// (caching_sha2_password), as a hex literal: "$A$005$" + salt + digest.
	sha2, err := hex.DecodeString("24412430303524517D22565B3D67635E4136625E414272223A522F373248496B496B7368563976366D73677476794E6F574C6C4346554662416E66753746637958455047332E")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, plugin, auth, password string
		want                         topology.PasswordState
	}{
		// Recorded from MariaDB 10.11 (testdata/mariadb-10.11/grants/app.txt).
		{"native match", PluginNative, "*6C7A370C07660BC788681B3238D93E08BD74303C", "app-secret", topology.PasswordMatch},
		{"native lower case", PluginNative, "*6c7a370c07660bc788681b3238d93e08bd74303c", "app-secret", topology.PasswordMatch},
		{"native mismatch", PluginNative, "*6C7A370C07660BC788681B3238D93E08BD74303C", "app-secret2", topology.PasswordMismatch},
		{"mariadb empty plugin", "", "*3FEBEA1F0E8D83C7578AACB7997039DA49CD121E", "replpw", topology.PasswordMatch},
		{"native no password", PluginNative, "", "", topology.PasswordMatch},
		{"native no password declared one", PluginNative, "", "x", topology.PasswordMismatch},
		{"native garbage", PluginNative, "*XYZ", "x", topology.PasswordUnknown},
		{"sha2 match", PluginCachingSHA2, string(sha2), "secret", topology.PasswordMatch},
		{"sha2 mismatch", PluginCachingSHA2, string(sha2), "Secret", topology.PasswordMismatch},
		{"sha2 short", PluginCachingSHA2, "$A$005$abc", "secret", topology.PasswordUnknown},
		{"sha2 empty", PluginCachingSHA2, "", "", topology.PasswordMatch},
		{"unix_socket", "unix_socket", "", "x", topology.PasswordUnknown},
		{"ed25519", "ed25519", "ZIgUREUg5PVgQ6LskhXmO+eZLS0nC8be6HPjYWR4YJY", "x", topology.PasswordUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PasswordMatches(tt.plugin, tt.auth, tt.password); got != tt.want {
				t.Errorf("PasswordMatches = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestNativeHash(t *testing.T) {
	// mysql.user of the recording server: CREATE USER repl ... IDENTIFIED BY 'replpw'.
	if got, want := NativeHash("replpw"), "*3FEBEA1F0E8D83C7578AACB7997039DA49CD121E"; got != want {
		t.Errorf("NativeHash = %s, want %s", got, want)
	}
}

func BenchmarkCachingSHA2(b *testing.B) {
	for b.Loop() {
		sha256Crypt([]byte("secret"), []byte("01234567890123456789"), 5000)
	}
}
