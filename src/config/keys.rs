//! The keys each table of the file accepts, read from the `Raw*` types themselves (so the
//! list cannot drift from what is deserialised): for "did you mean" on unknown keys.

use serde::Deserialize;
use serde::de::{self, Visitor};

use super::raw::*;

/// The keys the table at `table` accepts (`""` the file's top level, `tenants` one tenant,
/// `tenants.management` a tenant's management client, …); empty for a path of no table.
pub fn known_keys(table: &str) -> &'static [&'static str] {
    match table {
        "" => fields_of::<RawConfig>(),
        "server" => fields_of::<RawServer>(),
        "server.tls" => fields_of::<RawServerTls>(),
        "upstream" => fields_of::<RawUpstream>(),
        "policy" => fields_of::<RawPolicy>(),
        "policy.http" => fields_of::<RawPolicyHttp>(),
        "routes" => fields_of::<RawRoutes>(),
        "log" => fields_of::<RawLog>(),
        "clients" => fields_of::<RawClients>(),
        "customers" => fields_of::<RawCustomer>(),
        "tenants" => fields_of::<RawTenant>(),
        "tenants.default_api_permissions" => fields_of::<RawApiPermission>(),
        "tenants.token" => fields_of::<RawToken>(),
        "tenants.management" => fields_of::<RawManagement>(),
        _ => &[],
    }
}

/// The field names serde derives for `T`: a deserializer that only records what
/// `deserialize_struct` is asked for.
fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> de::Deserializer<'de> for Probe<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a struct"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("probed"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_table_has_its_keys() {
        assert!(super::known_keys("").contains(&"tenants"));
        assert!(super::known_keys("server").contains(&"admin_token_env"));
        assert!(super::known_keys("tenants").contains(&"dcr_rate_per_s"));
        assert!(super::known_keys("tenants.management").contains(&"client_secret_env"));
        assert!(super::known_keys("nowhere").is_empty());
    }
}
