//! [`TestCases`] for [`MemoryStore`].

use super::MemoryStore;
use crate::test_cases::TestCases;
use crate::Result;

impl TestCases for MemoryStore {
    async fn attach_test_case(&self, execution_arn: &str, test_case: &str) -> Result<bool> {
        let mut tables = self.tables();
        if tables.test_cases.contains_key(execution_arn) {
            return Ok(false);
        }
        tables
            .test_cases
            .insert(execution_arn.to_string(), test_case.to_string());
        Ok(true)
    }

    async fn detach_test_case(&self, execution_arn: &str) -> Result<()> {
        self.tables().test_cases.remove(execution_arn);
        Ok(())
    }

    async fn test_case_of(&self, execution_arn: &str) -> Result<Option<String>> {
        Ok(self.tables().test_cases.get(execution_arn).cloned())
    }

    async fn next_mocked_invocation(&self, execution_arn: &str, state_name: &str) -> Result<u64> {
        let mut tables = self.tables();
        let count = tables
            .mocked_invocations
            .entry((execution_arn.to_string(), state_name.to_string()))
            .or_insert(0);
        let number = *count;
        *count += 1;
        Ok(number)
    }
}
