// The official Keyv adapter suite (@keyv/test-suite) runs on vitest; only this directory.
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    root: import.meta.dirname ?? new URL('.', import.meta.url).pathname,
    include: ['**/*.test.mjs'],
    testTimeout: 20000
  }
})
