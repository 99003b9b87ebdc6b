package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"unicode"

	"sigs.k8s.io/yaml"
)

// EnvPrefix prefixes every environment variable of the schema.
const EnvPrefix = "SOCKETFLEET_"

// EnvConfigFile names the environment variable holding the config file path.
const EnvConfigFile = EnvPrefix + "CONFIG"

// Sources are the inputs of Load. Zero fields read nothing: a zero Sources
// gives Default().
type Sources struct {
	// Args are the command-line arguments, without the program name.
	Args []string
	// LookupEnv reads an environment variable (os.LookupEnv).
	LookupEnv func(name string) (string, bool)
	// ReadFile reads the config file (os.ReadFile).
	ReadFile func(path string) ([]byte, error)
	// Usage receives the --help text (default: discarded).
	Usage io.Writer
}

// Loaded is the result of Load: the configuration and where it came from.
type Loaded struct {
	Config
	// File is the config file that was read ("" when none).
	File string
	// PodName and PodNamespace come from POD_NAME and POD_NAMESPACE (the
	// downward API); informational.
	PodName, PodNamespace string
}

// ErrHelp is returned by Load when --help was asked for; the usage text was
// written to Sources.Usage.
var ErrHelp = flag.ErrHelp

// Load builds the configuration: defaults, then the YAML file (--config or
// SOCKETFLEET_CONFIG), then SOCKETFLEET_* variables, then flags, and
// validates the result. Errors name the offending key.
func Load(src Sources) (Loaded, error) {
	lookup := src.LookupEnv
	if lookup == nil {
		lookup = func(string) (string, bool) { return "", false }
	}
	leaves := schemaLeaves()

	// Flags are parsed first (they choose the file) and applied last.
	fs := flag.NewFlagSet("socketfleet-runtime", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configFile := fs.String("config", "", "YAML config file (env "+EnvConfigFile+")")
	given := map[string]string{}
	for _, l := range leaves {
		fs.Var(&recordedFlag{name: l.flag, bool: l.isBool(), given: given}, l.flag, l.usage())
	}
	if err := fs.Parse(src.Args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			writeUsage(src.Usage, fs)
			return Loaded{}, ErrHelp
		}
		return Loaded{}, fmt.Errorf("config: %w", err)
	}
	if fs.NArg() > 0 {
		return Loaded{}, fmt.Errorf("config: unexpected argument %q (flags only; see --help)", fs.Arg(0))
	}

	out := Loaded{Config: Default()}
	out.PodName, _ = lookup("POD_NAME")
	out.PodNamespace, _ = lookup("POD_NAMESPACE")

	out.File = *configFile
	if out.File == "" {
		out.File, _ = lookup(EnvConfigFile)
	}
	if out.File != "" {
		if src.ReadFile == nil {
			return Loaded{}, fmt.Errorf("config: read %s: no file reader", out.File)
		}
		data, err := src.ReadFile(out.File)
		if err != nil {
			return Loaded{}, fmt.Errorf("config: read %w", err)
		}
		if err := decodeYAML(data, &out.Config); err != nil {
			return Loaded{}, fmt.Errorf("config: %w (file %s)", err, out.File)
		}
	}

	root := reflect.ValueOf(&out.Config).Elem()
	for _, l := range leaves {
		if s, ok := lookup(l.env); ok {
			if err := setString(root.FieldByIndex(l.index), s); err != nil {
				return Loaded{}, fmt.Errorf("config: %s (env %s): %w", l.key, l.env, err)
			}
		}
	}
	for _, l := range leaves {
		if s, ok := given[l.flag]; ok {
			if err := setString(root.FieldByIndex(l.index), s); err != nil {
				return Loaded{}, fmt.Errorf("config: %s (flag --%s): %w", l.key, l.flag, err)
			}
		}
	}
	out.Config.normalize()
	if err := out.Config.Validate(); err != nil {
		return Loaded{}, err
	}
	return out, nil
}

// Parse decodes a YAML document strictly over the defaults and validates
// the result, without environment or flags.
func Parse(data []byte) (Config, error) {
	c := Default()
	if err := decodeYAML(data, &c); err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	c.normalize()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// decodeYAML decodes data into c: YAML is converted to JSON (duplicate keys
// refused) and decoded key by key so that errors carry the key's path.
func decodeYAML(data []byte, c *Config) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return fmt.Errorf("invalid YAML: %w", err)
	}
	return decodeValue("", js, reflect.ValueOf(c).Elem())
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// decodeValue decodes raw into v, strictly: a struct takes only the keys of
// its json tags. path is the dotted key path for errors.
func decodeValue(path string, raw json.RawMessage, v reflect.Value) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil // an empty YAML value keeps the default
	}
	if v.Kind() == reflect.Struct && !reflect.PointerTo(v.Type()).Implements(unmarshalerType) {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(raw, &obj); err != nil {
			return keyError(path, fmt.Errorf("expected a mapping, got %s", jsonKind(raw)))
		}
		fields := fieldsByKey(v.Type())
		for key, val := range obj {
			idx, ok := fields[key]
			if !ok {
				return keyError(join(path, key), errors.New("unknown key"+suggest(key, fields)))
			}
			if err := decodeValue(join(path, key), val, v.Field(idx)); err != nil {
				return err
			}
		}
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v.Addr().Interface()); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return keyError(path, fmt.Errorf("expected %s, got %s", typeName(v.Type()), jsonKind(raw)))
		}
		return keyError(path, err)
	}
	return nil
}

// KeyError is a configuration error about one key.
type KeyError struct {
	// Key is the dotted path of the key, e.g. "limits.maxConnections".
	Key string
	// Err is what is wrong with it.
	Err error
}

// Error returns "<key>: <problem>".
func (e *KeyError) Error() string { return e.Key + ": " + e.Err.Error() }

// Unwrap returns the problem.
func (e *KeyError) Unwrap() error { return e.Err }

func keyError(path string, err error) error {
	if path == "" {
		path = "(document)"
	}
	return &KeyError{Key: path, Err: err}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldsByKey(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		if name := jsonName(t.Field(i)); name != "" {
			m[name] = i
		}
	}
	return m
}

func jsonName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// suggest proposes a key that differs only in case, a frequent mistake
// (maxHTTPBufferSize for maxHttpBufferSize).
func suggest(key string, fields map[string]int) string {
	for k := range fields {
		if strings.EqualFold(k, key) {
			return fmt.Sprintf(" (did you mean %q?)", k)
		}
	}
	return ""
}

func jsonKind(raw json.RawMessage) string {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "a mapping"
	case '[':
		return "a list"
	case '"':
		return "a string " + string(b)
	case 't', 'f':
		return "a boolean " + string(b)
	default:
		return "a number " + string(b)
	}
}

var durationType = reflect.TypeFor[Duration]()

func typeName(t reflect.Type) string {
	switch {
	case t == durationType:
		return `a duration string such as "25s"`
	case t.Kind() == reflect.String:
		return "a string"
	case t.Kind() == reflect.Bool:
		return "a boolean"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "an integer"
	case t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Slice:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(typeName(t.Elem()), "a "), "an ") + "s"
	}
	return t.String()
}

// leaf is one settable key of the schema.
type leaf struct {
	key   string // dotted YAML path
	env   string // SOCKETFLEET_...
	flag  string // kebab-case flag name
	doc   string
	index []int
	typ   reflect.Type
	def   reflect.Value
}

func (l leaf) isBool() bool { return l.typ.Kind() == reflect.Bool }

func (l leaf) usage() string {
	return fmt.Sprintf("%s (key %s, env %s, default %s)", l.doc, l.key, l.env, formatValue(l.def))
}

// schemaLeaves lists the keys of Config in declaration order.
func schemaLeaves() []leaf {
	var out []leaf
	def := reflect.ValueOf(Default())
	var walk func(t reflect.Type, path []string, index []int)
	walk = func(t reflect.Type, path []string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			name := jsonName(f)
			if name == "" {
				continue
			}
			p := append(append([]string(nil), path...), name)
			idx := append(append([]int(nil), index...), i)
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(f.Type, p, idx)
				continue
			}
			words := make([]string, 0, 8)
			for _, seg := range p {
				words = append(words, splitCamel(seg)...)
			}
			out = append(out, leaf{
				key:   strings.Join(p, "."),
				env:   EnvPrefix + strings.ToUpper(strings.Join(words, "_")),
				flag:  strings.Join(words, "-"),
				doc:   f.Tag.Get("doc"),
				index: idx,
				typ:   f.Type,
				def:   def.FieldByIndex(idx),
			})
		}
	}
	walk(reflect.TypeFor[Config](), nil, nil)
	return out
}

// splitCamel splits "maxHttpBufferSize" into max, http, buffer, size; a run
// of capitals is one word ("adminUI" is admin, ui).
func splitCamel(s string) []string {
	var words []string
	start := 0
	r := []rune(s)
	for i := 1; i < len(r); i++ {
		if !unicode.IsUpper(r[i]) {
			continue
		}
		prevLower := !unicode.IsUpper(r[i-1])
		nextLower := i+1 < len(r) && !unicode.IsUpper(r[i+1])
		if prevLower || nextLower {
			words = append(words, strings.ToLower(string(r[start:i])))
			start = i
		}
	}
	return append(words, strings.ToLower(string(r[start:])))
}

// setString sets a leaf from its environment or flag text. Lists are
// comma-separated; an empty string is an empty list.
func setString(v reflect.Value, s string) error {
	switch {
	case v.Type() == durationType:
		var d Duration
		if err := d.parse(strings.TrimSpace(s)); err != nil {
			return err
		}
		v.Set(reflect.ValueOf(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q", s)
		}
		v.SetBool(b)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		v.SetInt(n)
	case v.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("invalid number %q", s)
		}
		v.SetFloat(f)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		list := []string{}
		for item := range strings.SplitSeq(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				list = append(list, item)
			}
		}
		v.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}

func formatValue(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return v.Interface().(Duration).String()
	case v.Kind() == reflect.Slice:
		items := make([]string, v.Len())
		for i := range items {
			items[i] = fmt.Sprint(v.Index(i).Interface())
		}
		return strconv.Quote(strings.Join(items, ","))
	case v.Kind() == reflect.String:
		return strconv.Quote(v.String())
	}
	return fmt.Sprint(v.Interface())
}

// recordedFlag stores a flag's text; it is applied after file and env.
type recordedFlag struct {
	name  string
	bool  bool
	given map[string]string
}

func (f *recordedFlag) String() string { return "" }

func (f *recordedFlag) Set(s string) error {
	f.given[f.name] = s
	return nil
}

func (f *recordedFlag) IsBoolFlag() bool { return f.bool }

func writeUsage(w io.Writer, fs *flag.FlagSet) {
	if w == nil {
		return
	}
	fmt.Fprintln(w, "Usage: socketfleet-runtime [flags]")
	fmt.Fprintln(w, "Precedence: flag > SOCKETFLEET_* environment > config file > default.")
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// Reference returns the documentation of every key as Markdown table rows:
// key, environment variable, flag, default, meaning.
func Reference() string {
	var b strings.Builder
	b.WriteString("| key | env | flag | default | meaning |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| — | `%s` | `--config` | — | YAML config file |\n", EnvConfigFile)
	for _, l := range schemaLeaves() {
		def := "—"
		if v := strings.Trim(formatValue(l.def), `"`); v != "" {
			def = "`" + v + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | `--%s` | %s | %s |\n", l.key, l.env, l.flag, def, strings.ReplaceAll(l.doc, "|", `\|`))
	}
	return b.String()
}
