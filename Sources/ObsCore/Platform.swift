// The platform every module builds on, imported once here: FoundationEssentials rather than
// Foundation (Foundation links ICU's 34 MB of data into the binary; nothing in the agent needs it),
// and the C library. Modules that import ObsCore get both.
#if canImport(FoundationEssentials)
@_exported import FoundationEssentials
#else
@_exported import Foundation
#endif
#if canImport(Glibc)
@_exported import Glibc
#elseif canImport(Musl)
@_exported import Musl
#elseif canImport(Darwin)
@_exported import Darwin
#endif
