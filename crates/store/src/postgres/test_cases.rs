//! [`TestCases`] for [`PgStore`]: two small tables (`execution_test_cases`,
//! `mocked_invocations`); each call is one statement.

use super::PgStore;
use crate::test_cases::TestCases;
use crate::Result;

impl TestCases for PgStore {
    async fn attach_test_case(&self, execution_arn: &str, test_case: &str) -> Result<bool> {
        let inserted = sqlx::query!(
            "insert into execution_test_cases (execution_arn, test_case) values ($1, $2)
             on conflict (execution_arn) do nothing",
            execution_arn,
            test_case
        )
        .execute(&self.pool)
        .await?;
        Ok(inserted.rows_affected() == 1)
    }

    async fn detach_test_case(&self, execution_arn: &str) -> Result<()> {
        sqlx::query!(
            "delete from execution_test_cases where execution_arn = $1",
            execution_arn
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn test_case_of(&self, execution_arn: &str) -> Result<Option<String>> {
        let row = sqlx::query_scalar!(
            "select test_case from execution_test_cases where execution_arn = $1",
            execution_arn
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row)
    }

    async fn next_mocked_invocation(&self, execution_arn: &str, state_name: &str) -> Result<u64> {
        let count = sqlx::query_scalar!(
            "insert into mocked_invocations (execution_arn, state_name, invocations)
             values ($1, $2, 1)
             on conflict (execution_arn, state_name)
             do update set invocations = mocked_invocations.invocations + 1
             returning invocations",
            execution_arn,
            state_name
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(count - 1).unwrap_or(0))
    }
}
