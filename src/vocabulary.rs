//! The project's own vocabulary: closed sets of values (a result, a conclusion, a finding code,
//! ...) that evidence.json and the stored files write as stable kebab-case strings.
//!
//! [`vocabulary!`] declares such an enum once with the string of each variant, and gives it
//! serde (exactly those strings), `as_str`, `Display`, and equality with the written string, so
//! a reader of the document, a test or the template compares what is written, while the code
//! branches on the enum.

/// Declares a vocabulary enum: `vocabulary! { pub enum Name { Variant => "text", ... } }`.
#[macro_export]
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident => $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The string evidence.json writes.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, written: &&str) -> bool {
                self.as_str() == *written
            }
        }
    };
}
