//! Names of the values users type: output formats, severities, report kinds.
//!
//! Why: each of these enums is spelled once, by its clap `ValueEnum` derive (`--format csv`,
//! `--fail-on high`). [`value_names!`] gives the same spelling to `Display`, `FromStr` and
//! serde, so help text, output, parsing and JSON cannot drift apart.

/// Implements `Display`, `FromStr` and `Serialize` for `ValueEnum` types from their clap names.
#[macro_export]
macro_rules! value_names {
    ($($t:ty),+ $(,)?) => {$(
        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let v = ::clap::ValueEnum::to_possible_value(self)
                    .expect("every value has a name");
                f.write_str(v.get_name())
            }
        }

        impl ::std::str::FromStr for $t {
            type Err = $crate::Error;
            fn from_str(s: &str) -> ::std::result::Result<Self, $crate::Error> {
                <$t as ::clap::ValueEnum>::from_str(s, false).map_err($crate::Error::Invalid)
            }
        }

        impl ::serde::Serialize for $t {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> ::std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    )+};
}
