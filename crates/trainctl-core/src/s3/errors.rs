//! Maps aws-sdk-s3 errors to [`crate::Error`] in the user's terms (bad key vs bad secret vs
//! no permission vs endpoint down), so every caller reports the same words and exit codes.
