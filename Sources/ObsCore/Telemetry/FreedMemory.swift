import CShims

/// Hands memory the allocator holds free back to the kernel. glibc keeps freed pages of its arenas
/// mapped (an ingest burst leaves tens of megabytes of them behind) and returns them only from the
/// top of the main heap; `malloc_trim` releases free pages anywhere in every arena, as Go's
/// scavenger and jemalloc's decay do on their own. Cheap enough to run every few seconds.
public enum FreedMemory {
    public static func release() {
        _ = obs_release_free_memory()
    }
}
