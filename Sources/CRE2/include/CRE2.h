#ifndef OBS_CRE2_H
#define OBS_CRE2_H
// A C face for RE2, the linear-time regular expression engine whose syntax Prometheus, Loki and Go
// use. Swift cannot call C++ classes directly here, so the few calls the project needs are wrapped.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct obs_regex obs_regex;

enum {
    OBS_REGEX_UNANCHORED = 0,
    OBS_REGEX_ANCHOR_START = 1,
    OBS_REGEX_ANCHOR_BOTH = 2,
};

/// Compiles `pattern`. `dot_nl` lets `.` match a newline; `max_memory` bounds the compiled program
/// (a pattern needing more is refused). On failure returns NULL and writes a NUL-terminated message
/// into `error` (at most `error_capacity` bytes).
obs_regex *obs_regex_compile(const char *pattern, size_t length, int dot_nl, int64_t max_memory,
                             char *error, size_t error_capacity);
void obs_regex_free(obs_regex *regex);

/// Number of capturing groups, not counting the whole match.
int obs_regex_group_count(const obs_regex *regex);
/// The name of capturing group `group` (1-based), or NULL when it has none. Lives as long as `regex`.
const char *obs_regex_group_name(const obs_regex *regex, int group);

/// Matches `text[start...]` (the text before `start` is context for `^` and `\b`). On a match returns
/// 1 and writes `2 * slots` byte offsets (begin, end) for the whole match and the first `slots - 1`
/// groups, -1 for a group that did not take part. Returns 0 when nothing matches.
int obs_regex_match(const obs_regex *regex, const char *text, size_t length, size_t start, int anchor,
                    int64_t *offsets, int slots);

#ifdef __cplusplus
}
#endif
#endif
