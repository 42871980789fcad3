package coord

import (
	"strings"
	"unicode/utf8"
)

// maxNameLen is the longest namespace, plugin name or worker id, in bytes.
const maxNameLen = 128

// defaultNamespace is the namespace of UseOptions with an empty Namespace.
const defaultNamespace = "default"

// ValidateName checks a namespace, plugin name or worker id (kind names
// which, for the message). A name must be 1 to 128 bytes of ASCII
// letters, digits, '.', '_', '-', must not start with '.' and must not
// contain "..": names become key segments, so '/', control characters and
// dot segments are refused. The error satisfies errors.Is(err,
// ErrInvalidName) and that names kind, name and the rule broken.
func ValidateName(kind, name string) error {
	bad := func(rule string) error { return &nameError{Kind: kind, Name: name, Rule: rule} }
	switch {
	case name == "":
		return bad("empty")
	case len(name) > maxNameLen:
		return bad("longer than 128 bytes")
	case !utf8.ValidString(name):
		return bad("not valid UTF-8")
	case strings.HasPrefix(name, "."):
		return bad("starts with '.'")
	case strings.Contains(name, ".."):
		return bad(`contains ".."`)
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '.', b == '_', b == '-':
		case b == '/':
			return bad("contains '/'")
		case b < 0x20 || b == 0x7f:
			return bad("contains a control character")
		default:
			return bad("only letters, digits, '.', '_' and '-' are allowed")
		}
	}
	return nil
}

// Keys. root ends with "/" (Config.Validate checks it).

func namespaceLeaseKey(root, ns string) string { return root + ns + "/state.json" }

func pluginLeaseKey(root, ns, p string) string { return root + ns + "/plugins/" + p + "/state.json" }

func workersPrefix(root, ns, p string) string {
	if p == "" {
		return root + ns + "/workers/"
	}
	return root + ns + "/plugins/" + p + "/workers/"
}

func workerKey(root, ns, p, id string) string { return workersPrefix(root, ns, p) + id + ".json" }

// workerIDFromKey returns the worker id of a worker record key under
// prefix, or false for any other key.
func workerIDFromKey(prefix, key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, ".json")
	if !ok || ValidateName("worker id", id) != nil {
		return "", false
	}
	return id, true
}
