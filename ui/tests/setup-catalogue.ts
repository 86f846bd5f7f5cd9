// Registers the engine's catalogue before every UI unit test, as the console does when it starts
// (App asks the backend for it). The file is generated from the Rust tables and checked by a Rust
// test (`contract::tests::the_committed_catalogue_is_current`): tests never keep their own copy.
import catalogue from '../src/lib/backend/generated/catalogue.json';
import { useCatalogue } from '../src/lib/model/catalogue';
import type { Catalogue } from '../src/lib/backend/types';

useCatalogue(catalogue as Catalogue);
