#include "CRE2.h"

#include <re2/re2.h>

#include <cstring>
#include <string>
#include <vector>

struct obs_regex {
    RE2 *re;
    std::vector<std::string> names;  // index = group number; empty when unnamed
    std::vector<bool> named;
};

static void write_error(char *error, size_t capacity, const std::string &message) {
    if (error == nullptr || capacity == 0) return;
    size_t n = message.size() < capacity - 1 ? message.size() : capacity - 1;
    std::memcpy(error, message.data(), n);
    error[n] = 0;
}

extern "C" obs_regex *obs_regex_compile(const char *pattern, size_t length, int dot_nl, int64_t max_memory,
                                        char *error, size_t error_capacity) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_dot_nl(dot_nl != 0);
    if (max_memory > 0) options.set_max_mem(max_memory);
    RE2 *re = new (std::nothrow) RE2(re2::StringPiece(pattern, length), options);
    if (re == nullptr) {
        write_error(error, error_capacity, "out of memory");
        return nullptr;
    }
    if (!re->ok()) {
        write_error(error, error_capacity, re->error());
        delete re;
        return nullptr;
    }
    obs_regex *regex = new (std::nothrow) obs_regex();
    if (regex == nullptr) {
        delete re;
        write_error(error, error_capacity, "out of memory");
        return nullptr;
    }
    regex->re = re;
    int groups = re->NumberOfCapturingGroups();
    regex->names.assign(groups + 1, std::string());
    regex->named.assign(groups + 1, false);
    for (const auto &entry : re->CapturingGroupNames()) {
        if (entry.first >= 0 && entry.first <= groups) {
            regex->names[entry.first] = entry.second;
            regex->named[entry.first] = true;
        }
    }
    return regex;
}

extern "C" void obs_regex_free(obs_regex *regex) {
    if (regex == nullptr) return;
    delete regex->re;
    delete regex;
}

extern "C" int obs_regex_group_count(const obs_regex *regex) { return regex->re->NumberOfCapturingGroups(); }

extern "C" const char *obs_regex_group_name(const obs_regex *regex, int group) {
    if (group < 0 || group >= (int)regex->named.size() || !regex->named[group]) return nullptr;
    return regex->names[group].c_str();
}

extern "C" int obs_regex_match(const obs_regex *regex, const char *text, size_t length, size_t start, int anchor,
                               int64_t *offsets, int slots) {
    if (start > length) return 0;
    RE2::Anchor mode = anchor == OBS_REGEX_ANCHOR_BOTH    ? RE2::ANCHOR_BOTH
                       : anchor == OBS_REGEX_ANCHOR_START ? RE2::ANCHOR_START
                                                          : RE2::UNANCHORED;
    re2::StringPiece input(text == nullptr ? "" : text, length);
    if (slots <= 0) return regex->re->Match(input, start, length, mode, nullptr, 0) ? 1 : 0;
    const int stackSlots = 16;
    re2::StringPiece stackGroups[stackSlots];
    std::vector<re2::StringPiece> heapGroups;
    re2::StringPiece *groups = stackGroups;
    if (slots > stackSlots) {
        heapGroups.resize(slots);
        groups = heapGroups.data();
    }
    if (!regex->re->Match(input, start, length, mode, groups, slots)) return 0;
    for (int i = 0; i < slots; i++) {
        if (groups[i].data() == nullptr) {
            offsets[2 * i] = -1;
            offsets[2 * i + 1] = -1;
        } else {
            offsets[2 * i] = groups[i].data() - input.data();
            offsets[2 * i + 1] = offsets[2 * i] + (int64_t)groups[i].size();
        }
    }
    return 1;
}
