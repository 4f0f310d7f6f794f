package doccheck_test

// The repository has to explain itself: a citation such as "docs/protocol.md
// §10 row 17" or a link such as [the budgets](architecture.md#budgets) is
// only worth writing if a reader who follows it finds what it names. This
// test reads every text file of the repository (what git tracks, plus new
// files it does not ignore, so that a change is checked before it is
// committed) and fails, naming each file and line, on:
//
//   - a mention of a reference file kept outside the repository (the
//     team's shared notes): their names, or the paths they are kept at;
//   - a relative link of a Markdown file whose target does not exist, or
//     whose #anchor names no heading of the target (GitHub's slugs);
//   - a path of the repository mentioned in any file (docs/benchmarks.md,
//     docs/architecture.md#budgets) that does not exist, or whose anchor
//     names no heading;
//   - a protocol citation, "§4.2" or "§10 rows 30, 32–34", whose section
//     has no heading in docs/protocol.md, or whose row is not in its §10.
//     In this repository a § names a section of docs/protocol.md, unless
//     an RFC precedes it on the same line ("RFC 6455 §7.1.1").

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// protocolDoc is the document every § refers to.
const protocolDoc = "docs/protocol.md"

func TestReferencesResolve(t *testing.T) {
	root := repoRoot(t)
	files := textFiles(t, root)
	if len(files) == 0 {
		t.Fatal("no files found: is the test running inside the repository?")
	}
	r := &repo{root: root, files: files, headings: map[string]map[string]bool{}}
	sections, rows, err := r.protocolSections()
	if err != nil {
		// Every citation is then reported below, which is the to-do list.
		t.Errorf("%s: %v", protocolDoc, err)
	}

	t.Run("no outside reference files", func(t *testing.T) {
		report(t, "mentions of files kept outside the repository", r.outsideMentions())
	})
	t.Run("markdown links", func(t *testing.T) {
		report(t, "links that lead nowhere", r.markdownLinks())
	})
	t.Run("paths mentioned", func(t *testing.T) {
		report(t, "mentioned paths that do not exist", r.pathMentions())
	})
	t.Run("protocol citations", func(t *testing.T) {
		report(t, "citations of "+protocolDoc+" that it cannot answer", r.citations(sections, rows))
	})
}

// report fails t with every problem on a line of its own, sorted by file
// and line, so that the list reads as a to-do list.
func report(t *testing.T, what string, problems []problem) {
	t.Helper()
	if len(problems) == 0 {
		return
	}
	sort.Slice(problems, func(i, j int) bool {
		if problems[i].file != problems[j].file {
			return problems[i].file < problems[j].file
		}
		return problems[i].line < problems[j].line
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s:", len(problems), what)
	for _, p := range problems {
		fmt.Fprintf(&b, "\n\t%s:%d: %s", p.file, p.line, p.msg)
	}
	t.Error(b.String())
}

type problem struct {
	file string
	line int
	msg  string
}

type textFile struct {
	path string // slash-separated, relative to the repository root
	text string
}

type repo struct {
	root     string
	files    []textFile
	headings map[string]map[string]bool // .md path → slugs of its headings; nil: unreadable
}

// repoRoot is the top of the git work tree, or, without git, the nearest
// directory above holding go.mod.
func repoRoot(t *testing.T) string {
	t.Helper()
	if out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output(); err == nil {
		return strings.TrimSpace(string(out))
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("neither a git work tree nor a go.mod above the test")
		}
		dir = parent
	}
}

// textFiles returns the repository's text files: those git tracks and
// those it would track (untracked, not ignored), or, without git, every
// file under root. Dependencies and generated results are left out:
// they are not the repository's own words.
func textFiles(t *testing.T, root string) []textFile {
	t.Helper()
	var paths []string
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	if out, err := cmd.Output(); err == nil {
		seen := map[string]bool{}
		for _, p := range strings.Split(string(out), "\x00") {
			if p != "" && !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	} else {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == ".git" || d.Name() == "node_modules") {
				return filepath.SkipDir
			}
			if !d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				paths = append(paths, filepath.ToSlash(rel))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	var files []textFile
	for _, p := range paths {
		if skipped(p) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(p)))
		if err != nil {
			continue // tracked but deleted in the work tree, or a directory (submodule)
		}
		if bytes.IndexByte(b, 0) >= 0 || !utf8.Valid(b) {
			continue // binary
		}
		files = append(files, textFile{path: p, text: string(b)})
	}
	return files
}

func skipped(p string) bool {
	for _, part := range strings.Split(p, "/") {
		if part == "node_modules" {
			return true
		}
	}
	return strings.HasPrefix(p, "loadtest/results/") && strings.HasSuffix(p, ".json")
}

// lineOf returns the 1-based line of byte offset i in s.
func lineOf(s string, i int) int { return strings.Count(s[:i], "\n") + 1 }

// The reference files are named by pieces, so that this file does not
// mention them itself.
var outside = regexp.MustCompile(`\b(?:SAMPLE|PROTOCOL|DESIGN|STYLE)\.md\b|\.\./shared\b|/work/share[d]\b`)

func (r *repo) outsideMentions() []problem {
	var out []problem
	for _, f := range r.files {
		for _, m := range outside.FindAllStringIndex(f.text, -1) {
			out = append(out, problem{f.path, lineOf(f.text, m[0]),
				fmt.Sprintf("%q is not in the repository; cite the repository's own document instead (docs/protocol.md §N, docs/architecture.md, the sample's README)", f.text[m[0]:m[1]])})
		}
	}
	return out
}

var (
	inlineLink = regexp.MustCompile(`!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^()\s<>]+)>?(?:\s+"[^"]*")?\s*\)`)
	refLink    = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:\s+<?(\S+?)>?(?:\s+"[^"]*")?\s*$`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	urlScheme  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*:`)
)

// markdownProse returns the text of a Markdown file with its fenced code
// blocks and code spans blanked (same length, newlines kept), since what
// they hold is not a link.
func markdownProse(text string) string {
	b := []byte(text)
	inFence := false
	fence := ""
	pos := 0
	for _, line := range strings.SplitAfter(text, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case !inFence && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			inFence, fence = true, trimmed[:3]
			blank(b[pos : pos+len(line)])
		case inFence:
			if strings.HasPrefix(trimmed, fence) {
				inFence = false
			}
			blank(b[pos : pos+len(line)])
		}
		pos += len(line)
	}
	prose := string(b)
	for _, m := range codeSpan.FindAllStringIndex(prose, -1) {
		blank(b[m[0]:m[1]])
	}
	return string(b)
}

func blank(b []byte) {
	for i := range b {
		if b[i] != '\n' {
			b[i] = ' '
		}
	}
}

func (r *repo) markdownLinks() []problem {
	var out []problem
	for _, f := range r.files {
		if !strings.HasSuffix(f.path, ".md") {
			continue
		}
		prose := markdownProse(f.text)
		var targets [][]int
		targets = append(targets, inlineLink.FindAllStringSubmatchIndex(prose, -1)...)
		targets = append(targets, refLink.FindAllStringSubmatchIndex(prose, -1)...)
		for _, m := range targets {
			target := prose[m[2]:m[3]]
			if urlScheme.MatchString(target) || strings.HasPrefix(target, "//") {
				continue // not a file of the repository
			}
			if msg := r.resolveLink(f.path, target); msg != "" {
				out = append(out, problem{f.path, lineOf(prose, m[2]), msg})
			}
		}
	}
	return out
}

// resolveLink checks a link target of the Markdown file from, relative to
// it (or to the repository root when it starts with "/", as on GitHub).
func (r *repo) resolveLink(from, target string) string {
	file, anchor, _ := strings.Cut(target, "#")
	if p, err := url.PathUnescape(file); err == nil {
		file = p
	}
	var rel string
	switch {
	case file == "":
		rel = from
	case strings.HasPrefix(file, "/"):
		rel = path.Clean(strings.TrimPrefix(file, "/"))
	default:
		rel = path.Join(path.Dir(from), file)
	}
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Sprintf("link %q leaves the repository", target)
	}
	return r.check(rel, anchor, "link "+strconv.Quote(target))
}

// check says what is wrong with a reference to rel (a path from the
// repository root) and anchor, or "" if nothing is.
func (r *repo) check(rel, anchor, what string) string {
	if _, err := os.Stat(filepath.Join(r.root, filepath.FromSlash(rel))); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf("%s: %s does not exist", what, rel)
		}
		return fmt.Sprintf("%s: %v", what, err)
	}
	if anchor == "" || !strings.HasSuffix(rel, ".md") {
		return ""
	}
	slugs := r.slugs(rel)
	if slugs == nil {
		return fmt.Sprintf("%s: cannot read the headings of %s", what, rel)
	}
	if !slugs[strings.ToLower(anchor)] {
		return fmt.Sprintf("%s: %s has no heading #%s", what, rel, anchor)
	}
	return ""
}

var atxHeading = regexp.MustCompile(`^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$`)

// headingLines returns the headings of a Markdown text, outside code
// blocks, with their levels.
func headingLines(text string) (levels []int, titles []string) {
	sc := bufio.NewScanner(strings.NewReader(markdownProseKeepingSpans(text)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := atxHeading.FindStringSubmatch(sc.Text()); m != nil {
			levels = append(levels, len(m[1]))
			titles = append(titles, m[2])
		}
	}
	return levels, titles
}

// markdownProseKeepingSpans blanks fenced code blocks only: a heading's
// code spans are part of its title.
func markdownProseKeepingSpans(text string) string {
	var b strings.Builder
	inFence := false
	fence := ""
	for _, line := range strings.SplitAfter(text, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case !inFence && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")):
			inFence, fence = true, trimmed[:3]
			b.WriteString("\n")
		case inFence:
			if strings.HasPrefix(trimmed, fence) {
				inFence = false
			}
			b.WriteString("\n")
		default:
			b.WriteString(line)
		}
	}
	return b.String()
}

// slugs returns the anchors GitHub gives the headings of the Markdown file
// rel, or nil if it cannot be read.
func (r *repo) slugs(rel string) map[string]bool {
	if s, ok := r.headings[rel]; ok {
		return s
	}
	b, err := os.ReadFile(filepath.Join(r.root, filepath.FromSlash(rel)))
	if err != nil {
		r.headings[rel] = nil
		return nil
	}
	s := map[string]bool{}
	count := map[string]int{}
	_, titles := headingLines(string(b))
	for _, title := range titles {
		slug := githubSlug(title)
		if n := count[slug]; n > 0 {
			s[fmt.Sprintf("%s-%d", slug, n)] = true
		} else {
			s[slug] = true
		}
		count[slug]++
	}
	r.headings[rel] = s
	return s
}

var mdLinkText = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)

// githubSlug is the anchor GitHub derives from a heading: its text as
// rendered (code, emphasis and link markup gone), lower-cased, without
// punctuation but hyphens and underscores, spaces turned into hyphens.
func githubSlug(title string) string {
	title = mdLinkText.ReplaceAllString(title, "$1")
	title = strings.NewReplacer("`", "", "*", "").Replace(title)
	var b strings.Builder
	for _, c := range strings.ToLower(title) {
		switch {
		case c == ' ':
			b.WriteByte('-')
		case c == '-' || unicode.IsLetter(c) || unicode.IsNumber(c) || unicode.Is(unicode.M, c) || unicode.Is(unicode.Pc, c):
			b.WriteRune(c)
		}
	}
	return b.String()
}

// pathMentions checks the repository paths written in any file: a path
// whose first element is a top-level directory of the repository, ending
// in a document's extension, with or without an anchor. Paths in links
// are the link check's; what a link's text says is checked here too.
func (r *repo) pathMentions() []problem {
	tops := map[string]bool{}
	for _, f := range r.files {
		if dir, _, ok := strings.Cut(f.path, "/"); ok {
			tops[dir] = true
		}
	}
	var names []string
	for d := range tops {
		names = append(names, regexp.QuoteMeta(d))
	}
	sort.Strings(names)
	mention := regexp.MustCompile(`(?:^|[^\w./-])((?:` + strings.Join(names, "|") + `)/[\w./-]*\.md)(?:#([\w-]+))?`)
	var out []problem
	for _, f := range r.files {
		var targets [][]int // of the file's links, if Markdown: relative to it, not to the root
		if strings.HasSuffix(f.path, ".md") {
			for _, l := range inlineLink.FindAllStringSubmatchIndex(markdownProse(f.text), -1) {
				targets = append(targets, l[2:4])
			}
		}
		for _, m := range mention.FindAllStringSubmatchIndex(f.text, -1) {
			if slices.ContainsFunc(targets, func(t []int) bool { return t[0] <= m[2] && m[2] < t[1] }) {
				continue
			}
			rel := f.text[m[2]:m[3]]
			anchor := ""
			if m[4] >= 0 {
				anchor = f.text[m[4]:m[5]]
			}
			what := strconv.Quote(rel)
			if anchor != "" {
				what = strconv.Quote(rel + "#" + anchor)
			}
			if msg := r.check(path.Clean(rel), anchor, what); msg != "" {
				out = append(out, problem{f.path, lineOf(f.text, m[2]), msg})
			}
		}
	}
	return out
}

// protocolSections returns the section numbers of docs/protocol.md's
// headings ("4", "4.11") and the row numbers listed in its §10.
func (r *repo) protocolSections() (sections, rows map[string]bool, err error) {
	b, err := os.ReadFile(filepath.Join(r.root, protocolDoc))
	if err != nil {
		return nil, nil, err
	}
	sections, rows = map[string]bool{}, map[string]bool{}
	number := regexp.MustCompile(`^(\d+(?:\.\d+)*)\.?(?:\s|$)`)
	row := regexp.MustCompile(`^(\d+)\.\s`)
	in10 := false
	for _, line := range strings.Split(markdownProseKeepingSpans(string(b)), "\n") {
		if m := atxHeading.FindStringSubmatch(line); m != nil {
			n := number.FindStringSubmatch(m[2])
			if n != nil {
				sections[n[1]] = true
			}
			if len(m[1]) == 2 {
				in10 = n != nil && n[1] == "10"
			}
			continue
		}
		if in10 {
			if m := row.FindStringSubmatch(line); m != nil {
				rows[m[1]] = true
			}
		}
	}
	if len(sections) == 0 {
		return nil, nil, errors.New("no numbered headings")
	}
	return sections, rows, nil
}

var (
	// A section, or a range of them: §4.2, §5.1–5.3.
	citation = regexp.MustCompile(`§\s?(\d+(?:\.\d+)*)(?:\s?[–-]\s?(\d+(?:\.\d+)*))?`)
	// Rows of §10, on one line or continued on the next comment line:
	// "§10 rows 30, 32,\n// 40, 41 and 47–52".
	rowList = regexp.MustCompile(`^§\s?10(?:\.\d+)?\s+rows?\s+(\d+(?:(?:\s|,|–|-|and|//|#)+\d+)*)`)
	rowItem = regexp.MustCompile(`(\d+)\s*[–-]\s*(\d+)|(\d+)`)
	rfc     = regexp.MustCompile(`RFC\s?\d+\s*$`)
)

func (r *repo) citations(sections, rows map[string]bool) []problem {
	var out []problem
	for _, f := range r.files {
		for _, m := range citation.FindAllStringSubmatchIndex(f.text, -1) {
			lineStart := strings.LastIndexByte(f.text[:m[0]], '\n') + 1
			if rfc.MatchString(f.text[lineStart:m[0]]) {
				continue // a section of an RFC
			}
			line := lineOf(f.text, m[0])
			for _, g := range [][2]int{{m[2], m[3]}, {m[4], m[5]}} {
				if g[0] < 0 {
					continue
				}
				if n := f.text[g[0]:g[1]]; !sections[n] {
					out = append(out, problem{f.path, line, fmt.Sprintf("§%s: %s has no section %s", n, protocolDoc, n)})
				}
			}
			list := rowList.FindStringSubmatch(f.text[m[0]:])
			if list == nil {
				continue
			}
			for _, it := range rowItem.FindAllStringSubmatch(list[1], -1) {
				lo, hi := it[3], it[3]
				if it[3] == "" {
					lo, hi = it[1], it[2]
				}
				a, _ := strconv.Atoi(lo)
				z, _ := strconv.Atoi(hi)
				if z < a || z-a > 100 {
					out = append(out, problem{f.path, line, fmt.Sprintf("§10 rows %s–%s: not a range", lo, hi)})
					continue
				}
				for n := a; n <= z; n++ {
					if !rows[strconv.Itoa(n)] {
						out = append(out, problem{f.path, line, fmt.Sprintf("§10 row %d: %s §10 has no row %d", n, protocolDoc, n)})
					}
				}
			}
		}
	}
	return out
}
